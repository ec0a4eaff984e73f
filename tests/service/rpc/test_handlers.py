"""`PolicyHandlers`: generated registration in, one generic handler out.

The policy is a stand-in that tags what it wraps (the unit here is the registration);
the live tests serve every method through the real policy and a real grpc.aio server.
"""

from collections.abc import Iterable
from typing import Any, NamedTuple

import grpc
from grpc_health.v1 import health_pb2_grpc
from tritonclient.grpc import service_pb2_grpc

from service.rpc.handlers import PolicyHandlers


class TaggingPolicy:
    def wrap(self, method: str, handler: Any) -> tuple[str, Any]:
        return ("wrapped", method)


class RecordingServer:
    """What `register` hands to a server: generic handlers and by-name registrations."""

    def __init__(self) -> None:
        self.generic: list[grpc.GenericRpcHandler] = []
        self.by_name: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.by_name.append(service)


class Details(NamedTuple):
    method: str
    invocation_metadata: tuple[tuple[str, str], ...] = ()


def registered() -> PolicyHandlers:
    handlers = PolicyHandlers(TaggingPolicy())  # type: ignore[arg-type]
    health_pb2_grpc.add_HealthServicer_to_server(health_pb2_grpc.HealthServicer(), handlers)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        service_pb2_grpc.GRPCInferenceServiceServicer(), handlers
    )
    return handlers


def test_no_method_is_registered_by_name_only_the_generic_handler():
    # grpc.aio waits on one pending future per by-name method for every call it accepts.
    handlers, server = registered(), RecordingServer()
    handlers.register(server)
    assert server.by_name == []
    assert server.generic == [handlers]


def test_every_generated_method_is_found_wrapped_by_the_generic_handler():
    handlers = registered()
    for method in (
        "/inference.GRPCInferenceService/ModelInfer",
        "/inference.GRPCInferenceService/ModelStreamInfer",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
    ):
        assert handlers.service(Details(method)) == ("wrapped", method)


def test_an_unknown_method_finds_nothing_and_is_not_remembered():
    handlers = registered()
    assert handlers.service(Details("/inference.GRPCInferenceService/Nope")) is None
    assert handlers.service(Details("/no.Such/Method")) is None
    assert "/no.Such/Method" not in handlers.methods
