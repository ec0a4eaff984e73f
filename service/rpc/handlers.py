"""The services' method handlers, each wrapped once by the call policy.

The generated `add_*Servicer_to_server` functions register a service on whatever
they are given: `PolicyHandlers` takes the registration in place of the server, wraps
the handlers (`CallPolicy.wrap`) and hands them to the real server (`register`): by
method name where the generated code named them (gRPC then matches a call to its
method before Python sees it), and as the server's one generic handler for the rest,
whose methods are wrapped on their first call and found in a dict after.
"""

from collections.abc import Iterable
from typing import Any

import grpc

from service.rpc.calls import CallPolicy


class PolicyHandlers(grpc.GenericRpcHandler):
    """Every registered service's methods behind `CallPolicy`."""

    def __init__(self, policy: CallPolicy) -> None:
        self.policy = policy
        self.services: list[grpc.GenericRpcHandler] = []
        self.methods: dict[str, Any] = {}  # only methods that exist: bounded
        self.registered: dict[str, dict[str, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        """What generated code calls on a server to register a service."""
        self.services.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        """Newer generated code also registers the methods by name, which lets gRPC match
        a call to its method before it reaches Python: kept, wrapped, for `register`."""
        wrapped = {}
        for name, handler in handlers.items():
            method = f"/{service}/{name}"
            wrapped[name] = self.methods[method] = self.policy.wrap(method, handler)
        self.registered[service] = wrapped

    def register(self, server: Any) -> None:
        """Serve every method on ``server``: by name where the service registered them."""
        server.add_generic_rpc_handlers((self,))
        for service, handlers in self.registered.items():
            server.add_registered_method_handlers(service, handlers)

    def service(self, handler_call_details: Any) -> Any:
        method = handler_call_details.method
        wrapped = self.methods.get(method)
        if wrapped is None:
            for service in self.services:
                handler = service.service(handler_call_details)
                if handler is not None:
                    wrapped = self.methods[method] = self.policy.wrap(method, handler)
                    break
        return wrapped
