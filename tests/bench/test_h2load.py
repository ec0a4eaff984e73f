"""The gRPC rows' pieces that need no server: the framing, h2load's summary and log,
the report's floors."""

import struct

from bench import grpc_report, h2load
from bench.grpc_run import CEILING, OURS, PYTRITON

SUMMARY = """
finished in 2.50s, 400.00 req/s, 1.20MB/s
requests: 1000 total, 1000 started, 1000 done, 998 succeeded, 2 failed, 2 errored, 0 timeout
status codes: 998 2xx, 0 3xx, 0 4xx, 0 5xx
"""


def test_a_call_is_one_length_prefixed_message():
    call = h2load.model_infer("m", "images", "BYTES", [1], h2load.bytes_element(b"png"))
    framed = call.framed
    assert framed[0] == 0 and struct.unpack(">I", framed[1:5])[0] == len(call.message)
    assert framed[5:] == call.message
    assert h2load.bytes_element(b"png") == b"\x03\x00\x00\x00png"


def test_summary_and_latencies_from_the_log(tmp_path):
    log = tmp_path / "requests.log"
    rows = [f"1700000000{i:06d}\t200\t{1000 * (i + 1)}" for i in range(100)]
    log.write_text("\n".join([*rows, "1700000000999999\t-1\t5"]) + "\n")
    result = h2load.parse(SUMMARY, log)
    assert (result.sent, result.succeeded, result.failed) == (1000, 998, 2)
    assert result.seconds == 2.5 and result.rps == 998 / 2.5
    assert 50 <= result.p50_ms <= 51 and result.max_ms == 100.0  # only the 200s


def _point(server, scenario, c, rps, p50, p99):
    return {"server": server, "scenario": scenario, "concurrency": c, "rps": rps,
            "p50_ms": p50, "p90_ms": p99, "p99_ms": p99, "max_ms": p99, "non_2xx": 0,
            "batches": "", "note": ""}  # fmt: skip


def test_floors_are_judged_per_request_kind():
    points = [
        _point(OURS, "grpc-fp32", 1, 1500, 0.6, 1.0),
        _point(OURS, "grpc-fp32", 64, 4000, 10, 20),
        _point(PYTRITON, "grpc-fp32", 64, 2000, 20, 40),
        _point(CEILING, "grpc-fp32", 64, 5000, 8, 15),
    ]
    verdicts = {floor.name: floor.met for floor in grpc_report.floors(points)}
    assert verdicts["grpc-fp32 c=64 >= 1.5x PyTriton, lower p99"] is True
    assert verdicts["grpc-fp32 c=64 >= 70% of the ceiling"] is True
    assert verdicts["grpc-fp32 c=1 p50 <= 1 ms"] is True
    assert verdicts["grpc-png c=1 p50 <= 1 ms"] is None  # not measured, not passed
    failed = {**points[1], "note": "failed: h2load counted 10 OK, the server 9"}
    verdicts = {f.name: f.met for f in grpc_report.floors([points[0], failed, *points[2:]])}
    assert verdicts["grpc-fp32 c=64 >= 70% of the ceiling"] is None
