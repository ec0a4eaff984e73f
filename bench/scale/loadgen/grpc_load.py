"""The closed loop over gRPC: ``connections`` calls in flight at all times, each a KServe
V2 `ModelInfer` of fashion_mlp with the PNG as a BYTES tensor, every call recorded.

An OK call with ten probabilities is recorded as 200 (as an HTTP answer would be), an
OK call without them as WRONG_ANSWER, any other status code as ``GRPC_ERROR - code``
(named ``grpc_<code>`` in the table), a call with no answer within ``timeout_s`` as
TIMED_OUT. HAProxy's `x-kerasserve-replica` header arrives as initial metadata and
names the replica; a `retry-after` in the trailers is recorded like the HTTP header.

The calls share a few HTTP/2 connections, as gRPC clients do; HAProxy picks a replica
for each call, so one connection reaches every replica.
"""

import asyncio
import struct
import time

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from bench.scale.loadgen.records import GRPC_ERROR, TIMED_OUT, WRONG_ANSWER, Records

CHANNELS = 4
REPLICA = "x-kerasserve-replica"


def infer_request(model: str, png: bytes) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name="images", datatype="BYTES", shape=[1])
    request.outputs.add(name="probabilities")
    request.raw_input_contents.append(struct.pack("<I", len(png)) + png)
    return request


def _metadata(pairs: object, key: str) -> str | None:
    for name, value in pairs or ():  # type: ignore[attr-defined]
        if name == key:
            return str(value)
    return None


async def _caller(
    stub: service_pb2_grpc.GRPCInferenceServiceStub,
    request: service_pb2.ModelInferRequest,
    deadline: float,
    stop: asyncio.Event,
    records: Records,
    t0: float,
    timeout_s: float,
) -> None:
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.monotonic()
        call = stub.ModelInfer(request, timeout=timeout_s)
        try:
            answer = await call
            status = 200 if len(answer.raw_output_contents) == 1 else WRONG_ANSWER
        except grpc.aio.AioRpcError as error:
            code = error.code()
            status = (
                TIMED_OUT
                if code == grpc.StatusCode.DEADLINE_EXCEEDED
                else GRPC_ERROR - code.value[0]
            )
        initial = await call.initial_metadata() if status != TIMED_OUT else None
        trailing = await call.trailing_metadata()
        records.add(
            started - t0,
            time.monotonic() - started,
            status,
            retry_after=_metadata(trailing, "retry-after") is not None,
            replica=_metadata(initial, REPLICA),
        )


async def run_grpc_load(
    host: str,
    port: int,
    png: bytes,
    *,
    model: str = "fashion_mlp",
    connections: int,
    duration_s: float,
    timeout_s: float,
    stop: asyncio.Event,
) -> Records:
    records = Records(began_at=time.time())
    t0, deadline = time.monotonic(), time.monotonic() + duration_s
    request = infer_request(model, png)
    channels = [grpc.aio.insecure_channel(f"{host}:{port}") for _ in range(CHANNELS)]
    try:
        stubs = [service_pb2_grpc.GRPCInferenceServiceStub(channel) for channel in channels]
        callers = [
            _caller(stubs[i % CHANNELS], request, deadline, stop, records, t0, timeout_s)
            for i in range(connections)
        ]
        await asyncio.gather(*callers)
    finally:
        for channel in channels:
            await channel.close()
    return records
