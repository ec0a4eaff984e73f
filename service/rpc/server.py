"""The gRPC server of one app: created in the app's running event loop (uvicorn's,
uvloop included), started by the lifespan once the models are loaded, drained with
the same budget as REST on shutdown.

With `--workers N` every worker binds the same `grpc_port` with SO_REUSEPORT, as each
worker's HTTP socket does, and the kernel spreads connections across them; a single
process binds without it, so a second server on a taken port fails to start instead of
silently sharing it. Messages up to `grpc_max_message_bytes` are accepted (gRPC's own
4 MB default would refuse requests REST takes); larger ones get RESOURCE_EXHAUSTED.
"""

import asyncio
import logging
import time
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from service.server.access_log import AccessWriter
from service.server.services import Services

logger = logging.getLogger(__name__)

# On shutdown, calls are answered until none arrived for QUIET_S, for at most HANDOFF_S.
QUIET_S = 0.5
HANDOFF_S = 5.0


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class RpcServer:
    """`grpc.aio` with every service of `service.rpc` behind the call policy."""

    def __init__(self, services: Services, log: AccessWriter) -> None:
        # Imported here: the TF Serving protos import TensorFlow, which an app with gRPC
        # off (and the tests of the HTTP layer) need not pay for.
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        from service.rpc.calls import CallPolicy
        from service.rpc.handlers import PolicyHandlers
        from service.rpc.health import HealthServicer
        from service.rpc.tf_servicer import ModelServicer, PredictionServicer
        from service.rpc.v2_servicer import InferenceServicer

        settings = services.settings
        limit = settings.grpc_max_message_bytes
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        ]
        self.calls = CallPolicy(settings, services.metrics, log)
        self.handlers = handlers = PolicyHandlers(self.calls)
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(services), handlers
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(services), handlers
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(services), handlers)
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(services), handlers)
        names = (
            service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name,
            "tensorflow.serving.PredictionService",
            "tensorflow.serving.ModelService",
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(names), handlers
        )
        self.server: Any = grpc.aio.server(options=options)
        handlers.register(self.server)
        self.address = _address(settings.host, settings.grpc_port)
        self.port = 0

    async def start(self) -> None:
        try:
            self.port = self.server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise RuntimeError(f"gRPC cannot listen on {self.address}: {exc}") from exc
        if not self.port:
            raise RuntimeError(f"gRPC cannot listen on {self.address}")
        await self.server.start()
        logger.info("gRPC listening", extra={"fields": {"address": self.address}})

    async def stop(self, grace_s: float) -> None:
        """Answer calls while they still come, then refuse new ones at the transport
        (connections get GOAWAY, the port closes) and give those in progress what is
        left of ``grace_s``, then cancel them.

        Readiness turned at SIGTERM, but a balancer needs a few checks to see it (HAProxy
        here: about 1.5 s). Calls it sends meanwhile are answered, until none has
        arrived for ``QUIET_S`` or ``HANDOFF_S`` passed: a stopped server's refusal
        reaches the client as UNAVAILABLE or CANCELLED, which a proxy cannot replay.
        """
        began = time.monotonic()
        handoff = min(HANDOFF_S, grace_s)
        while time.monotonic() - began < handoff and (
            time.monotonic() - self.calls.last_started < QUIET_S
        ):
            await asyncio.sleep(QUIET_S / 10)
        await self.server.stop(max(0.0, grace_s - (time.monotonic() - began)))


async def start_rpc_server(services: Services, log: AccessWriter) -> RpcServer | None:
    """The started gRPC server, or None when `grpc_port` is 0 (gRPC off)."""
    if services.settings.grpc_port == 0:
        return None
    server = RpcServer(services, log)
    await server.start()
    return server


async def stop_rpc_server(server: RpcServer | None, grace_s: float) -> None:
    if server is not None:
        await server.stop(grace_s)
