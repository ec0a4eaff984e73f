"""`grpc.health.v1.Health`, for Kubernetes gRPC probes and `grpc_health_probe`.

The empty service name is the server: SERVING while REST's `/readyz` would answer 200
(models loaded, not stopping). A model's name is that model: SERVING while a version
of it is AVAILABLE. Unknown names: NOT_FOUND from Check, SERVICE_UNKNOWN from Watch,
as the health protocol says. Watch re-reads the state every `WATCH_INTERVAL_S`, sends
each change, and ends once the server stops, so it never holds up the drain.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.rpc.status import RpcStatusError
from service.server.services import Services

WATCH_INTERVAL_S = 0.5
_STATUS = health_pb2.HealthCheckResponse


class HealthServicer(health_pb2_grpc.HealthServicer):
    def __init__(self, services: Services) -> None:
        self.services = services

    def status(self, service: str) -> Any:
        """SERVING, NOT_SERVING or SERVICE_UNKNOWN for ``service``, as things are now."""
        repository, lifecycle = self.services.repository, self.services.lifecycle
        if lifecycle.stopping:
            return _STATUS.NOT_SERVING
        if not service:
            return _STATUS.SERVING if repository.ready else _STATUS.NOT_SERVING
        states = [status.state for status in repository.statuses(service)]
        if not states:
            return _STATUS.SERVICE_UNKNOWN
        return _STATUS.SERVING if "AVAILABLE" in states else _STATUS.NOT_SERVING

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802
        status = self.status(request.service)
        if status == _STATUS.SERVICE_UNKNOWN:
            raise RpcStatusError(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return _STATUS(status=status)

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        last = None
        while True:
            status = self.status(request.service)
            if status != last:
                yield _STATUS(status=status)
                last = status
            if self.services.lifecycle.stopping:
                return
            await asyncio.sleep(WATCH_INTERVAL_S)
