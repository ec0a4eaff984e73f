"""bench.grpc_ab: the calls it sends and the report it gives."""

from pathlib import Path

from tritonclient.grpc import service_pb2

from bench.ab import Side
from bench.grpc_ab import Sample, calls, report


def test_the_calls_are_the_bench_run_rows_fashion_mlp_requests():
    sent = {
        name: service_pb2.ModelInferRequest.FromString(call.message)
        for name, call in calls().items()
    }
    assert {request.model_name for request in sent.values()} == {"fashion_mlp"}
    fp32, png = sent["fp32"].inputs[0], sent["png"].inputs[0]
    assert (fp32.datatype, list(fp32.shape)) == ("FP32", [1, 28, 28, 1])
    assert len(sent["fp32"].raw_input_contents[0]) == 28 * 28 * 4
    assert (png.datatype, list(png.shape)) == ("BYTES", [1])
    element = sent["png"].raw_input_contents[0]
    assert int.from_bytes(element[:4], "little") == len(element) - 4
    assert element[4:8] == b"\x89PNG"


def test_the_report_gives_each_sides_median_and_b_over_a():
    def rounds(*rates: float) -> list[Sample]:
        return [Sample(rate, 300.0, 3.0, 20.0, 30.0) for rate in rates]

    sides = [Side("base", Path()), Side("checkout", Path())]
    text = report(
        sides,
        {("fp32", "base"): rounds(100, 300, 200), ("fp32", "checkout"): rounds(300, 250, 400)},
    )
    assert "| fp32 | base | 200 | 300 | 3.0 | 20.0 | 30.0 |" in text
    assert "| fp32 | checkout | 300 |" in text
    assert "| fp32 | B/A | 1.500 |" in text
