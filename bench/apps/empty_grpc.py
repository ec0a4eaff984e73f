"""The gRPC ceiling: `grpc.aio` in one process (uvloop, as ours runs it) and no model.

`inference.GRPCInferenceService/ModelInfer` answers every call with one fixed
`ModelInferResponse` (fashion_mlp's ten probabilities), whatever it was sent; the
message is still parsed, as a real servicer must. `ModelStatistics` reports how many
calls it answered, so the harness can check h2load's count against the server's.

    python bench/apps/empty_grpc.py PORT
"""

import sys

import grpc
import numpy as np
import uvloop
from tritonclient.grpc import service_pb2, service_pb2_grpc

MODEL = "fashion_mlp"


def _fixed_answer() -> service_pb2.ModelInferResponse:
    answer = service_pb2.ModelInferResponse(model_name=MODEL, model_version="1")
    answer.outputs.add(name="probabilities", datatype="FP32", shape=[1, 10])
    answer.raw_output_contents.append(np.full((1, 10), 0.1, np.float32).tobytes())
    return answer


class Empty(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.answer = _fixed_answer()
        self.calls = 0

    async def ModelInfer(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        self.calls += 1
        return self.answer

    async def ServerReady(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return service_pb2.ServerReadyResponse(ready=True)

    async def ModelReady(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return service_pb2.ModelReadyResponse(ready=True)

    async def ModelStatistics(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        answer = service_pb2.ModelStatisticsResponse()
        stats = answer.model_stats.add(name=MODEL, version="1", inference_count=self.calls)
        stats.inference_stats.success.count = self.calls
        return answer


async def serve(port: int) -> None:
    server = grpc.aio.server()
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Empty(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
