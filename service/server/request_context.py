"""Per-request facts shared by a transport's middleware, the resolver and the error answers.

One `RequestContext` per request (HTTP or gRPC): the resolver fills in the model and
version it resolved, and the transport reads them back for the access log line and
the request metrics. Requests that never named a model keep empty labels; names that
did not resolve become `_unknown`, so clients cannot create label values at will.
"""

import random
import re
import time
from dataclasses import dataclass, field

UNKNOWN_MODEL = "_unknown"  # Metric label for a model name the repository did not know.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id_from(given: str | None) -> str:
    """The client's request id when it is sane, else a fresh random one.

    An id, not a secret: 128 random bits from the fast generator (os.urandom is a
    system call, ~2% of a small request). Seeded from os.urandom at start-up.
    """
    if given is not None and _VALID_REQUEST_ID.match(given):
        return given
    return f"{random.getrandbits(128):032x}"


@dataclass
class RequestContext:
    """What one request is about, as far as logs and metrics care."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    model: str = ""
    version: str = ""
    route_key: str | None = None  # keeps a client on one version of a traffic split
    # Other requests were in progress when this one was admitted (or it is the gRPC
    # call that looks for company, `service.rpc.calls.LOOK_FOR_COMPANY`): its model call
    # queues for a batch rather than run alone at once (`DynamicBatcher.submit`).
    in_company: bool = False

    def record_model(self, name: str, version: int | None) -> None:
        """Label values for a model the repository resolved (so never unbounded)."""
        self.model = name
        self.version = "" if version is None else str(version)

    def record_unknown_model(self) -> None:
        """A name was asked for; until it resolves it counts as the fixed placeholder."""
        self.model, self.version = UNKNOWN_MODEL, ""
