"""A lean path for the hottest requests to `/v1/classify` (or `/classify`): one raw image,
or JSON `{"images": [{"b64": ...}]}` (a folder's worth of images in one request).

FastAPI's routing, dependency solving and response-model validation cost more per
request than the model itself (py-spy at concurrency 64: about a third of the event
loop; see docs/benchmarks.md). This pure-ASGI layer answers the plain case directly,
through `classify_uploads` (the code the route runs) and the same problem details.
Anything else (multipart bodies, other media types, unknown or malformed query
parameters) goes on to the FastAPI route, which stays the reference implementation
and the OpenAPI description. Request ids, the access log, request metrics and the body
limit still come from the middleware around this one.
"""

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

import orjson
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.classify_answer import (
    ALIAS,
    JSON_MEDIA_TYPE,
    PATH,
    b64_uploads,
    classify_uploads,
    media_type_of,
)
from service.api.context import context_of
from service.api.deps import ROUTE_KEY_HEADER, check_api_key, resolver_for
from service.api.middleware import header_value
from service.api.problems import EXPECTED_ERRORS, error_response
from service.preprocessing.images import SUPPORTED_MEDIA_TYPES
from service.server.services import Services
from service.tasks.classify import ClassifyParams, Upload

_MEDIA_TYPES = frozenset(SUPPORTED_MEDIA_TYPES)
_PARAMS = frozenset(ClassifyParams.model_fields)
_JSON_TYPE = (b"content-type", b"application/json")
ROUTE_KEY = ROUTE_KEY_HEADER.encode()


@dataclass(frozen=True)
class _Route:
    """What the request middleware reads for the `endpoint` label: the route template."""

    path: str


_ROUTES = {PATH: _Route(PATH), ALIAS: _Route(ALIAS)}


@lru_cache(maxsize=1024)
def plain_params(query_string: bytes) -> ClassifyParams | None:
    """The query as `ClassifyParams`, or None when the route should judge it (a bad
    value, for its 422; a repeated or unknown parameter).

    Cached: clients send the same few query strings over and over, and the answer is
    immutable (parsing was ~2% of a small request).
    """
    values: dict[str, str] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in values or key not in _PARAMS:
            return None
        values[key] = value
    try:
        return ClassifyParams.model_validate(values)
    except ValidationError:
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class FastClassifyMiddleware:
    """Answers plain raw-image and JSON classify calls; passes every other request through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        media = media_type_of(header_value(scope, b"content-type"))
        params = plain_params(scope.get("query_string", b""))
        services = scope.get("state", {}).get("services")
        raw = media in _MEDIA_TYPES
        lean = raw or media == JSON_MEDIA_TYPE
        if not lean or params is None or not isinstance(services, Services):
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        status, headers, body = await self._answer(scope, receive, services, params, raw)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _answer(
        scope: Scope, receive: Receive, services: Services, params: ClassifyParams, raw: bool
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        context = context_of(scope)
        try:
            scheme, _, token = (header_value(scope, b"authorization") or "").partition(" ")
            check_api_key(services.settings, scheme or None, token or None)
            body = await _read_body(receive)
            if raw:
                uploads = [Upload(None, body)]
            else:
                uploads = b64_uploads(body, services.settings.max_files_per_request)
            resolver = resolver_for(services, context)
            route_key = header_value(scope, ROUTE_KEY)
            answer = await classify_uploads(
                resolver, services.settings, uploads, raw, params, route_key
            )
        except EXPECTED_ERRORS as exc:  # anything else is the request middleware's to log
            problem = error_response(exc, scope["path"], context.request_id)
            return problem.status_code, problem.raw_headers, bytes(problem.body)
        body = orjson.dumps(answer)
        return 200, [_JSON_TYPE, (b"content-length", str(len(body)).encode())], body
