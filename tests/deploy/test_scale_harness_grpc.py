"""The gRPC load client of the fault harness (bench/scale/loadgen/grpc_load.py) against a
real `grpc.aio` server: every call is recorded with its outcome, the replica named in
the initial metadata and the retry hint of the trailers."""

import asyncio
from typing import Any

import grpc
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from bench.scale.loadgen.grpc_load import run_grpc_load
from bench.scale.loadgen.records import ERROR_NAMES, GRPC_ERROR
from bench.scale.report import count


class Flaky(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """Answers OK from replica r1, except every third call: UNAVAILABLE, retry-after 1."""

    def __init__(self) -> None:
        self.calls = 0

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.calls += 1
        number = self.calls
        await context.send_initial_metadata((("x-kerasserve-replica", "r1"),))
        if number % 3 == 0:
            context.set_trailing_metadata((("retry-after", "1"),))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "busy")
        answer = service_pb2.ModelInferResponse(model_name=request.model_name)
        answer.raw_output_contents.append(b"\x00" * 40)
        return answer


def test_every_call_is_recorded_with_its_status_and_replica():
    async def scenario() -> tuple[Any, int]:
        server = grpc.aio.server()
        servicer = Flaky()
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            records = await run_grpc_load(
                "127.0.0.1", port, b"png", connections=4, duration_s=1.0, timeout_s=5,
                stop=asyncio.Event(),
            )  # fmt: skip
        finally:
            await server.stop(None)
        return records, servicer.calls

    records, calls = asyncio.run(scenario())
    assert len(records) == calls > 10
    unavailable = GRPC_ERROR - grpc.StatusCode.UNAVAILABLE.value[0]
    assert ERROR_NAMES[unavailable] == "grpc_unavailable"
    assert set(records.status) == {200, unavailable}
    refused = [i for i, status in enumerate(records.status) if status == unavailable]
    assert len(refused) == calls // 3
    assert all(records.retry_after[i] for i in refused)
    assert records.replicas == ["r1"] and set(records.replica) == {0}
    counts = count(records)
    assert counts.ok == calls - calls // 3 and counts.failed == calls // 3


def test_only_loopback_targets(tmp_path):
    from bench.scale.loadgen.__main__ import main

    body = tmp_path / "image.png"
    body.write_bytes(b"png")
    with pytest.raises(ValueError, match="not a loopback address"):
        main(
            ["--grpc", "--host", "192.0.2.1", "--port", "1", "--body", str(body), "--duration", "1"]
        )
