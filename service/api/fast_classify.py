"""A lean path for the hottest requests: `/v1/classify` (or `/classify`) with one raw
image or JSON `{"images": [{"b64": ...}]}`, and KServe V2 `infer` (a folder's worth of
images in one request, as BYTES).

FastAPI's routing, dependency solving and response-model validation cost more per
request than the model itself (py-spy at concurrency 64: about a third of the event
loop; see docs/benchmarks.md). This pure-ASGI layer answers the plain cases directly,
through `classify_uploads` and `infer_answer` (the code the routes run) and the same
problem details. Anything else (multipart bodies, other media types, unknown or
malformed query parameters, a V2 request with any query string) goes on to the FastAPI
routes, which stay the reference implementation and the OpenAPI description. Request
ids, the access log, request metrics and the body limit still come from the middleware
around this one.
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
from service.api.v2_infer import INFER_PATH, infer_answer
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
_V2_ROUTES = {
    False: _Route("/v2/models/{name}/infer"),
    True: _Route("/v2/models/{name}/versions/{version}/infer"),
}
HEADER_LENGTH = b"inference-header-content-length"


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


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class FastClassifyMiddleware:
    """Answers plain classify and V2 infer calls; passes every other request through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = scope.get("state", {}).get("services") if scope["type"] == "http" else None
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not isinstance(services, Services)
        ):
            await self.app(scope, receive, send)
            return
        route = _ROUTES.get(scope["path"])
        if route is not None:
            media = media_type_of(header_value(scope, b"content-type"))
            params = plain_params(scope.get("query_string", b""))
            raw = media in _MEDIA_TYPES
            if (raw or media == JSON_MEDIA_TYPE) and params is not None:
                scope["route"] = route
                answer = await self._answer(scope, receive, services, params, raw)
                await _send(send, *answer)
                return
        infer = INFER_PATH.fullmatch(scope["path"]) if not scope.get("query_string") else None
        if infer is not None:
            name, version = infer.group(1), infer.group(2)
            scope["route"] = _V2_ROUTES[version is not None]
            await _send(send, *await self._infer(scope, receive, services, name, version))
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _infer(
        scope: Scope, receive: Receive, services: Services, name: str, version: str | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """V2 `infer`, as `service.api.routes.kserve_v2` answers it."""
        context = context_of(scope)
        try:
            scheme, _, token = (header_value(scope, b"authorization") or "").partition(" ")
            check_api_key(services.settings, scheme or None, token or None)
            body, media_type, json_length = await infer_answer(
                resolver_for(services, context),
                services.settings,
                name,
                None if version is None else int(version),
                await _read_body(receive),
                header_value(scope, HEADER_LENGTH),
            )
        except EXPECTED_ERRORS as exc:
            problem = error_response(exc, scope["path"], context.request_id)
            return problem.status_code, problem.raw_headers, bytes(problem.body)
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", media_type.encode()),
        ]
        if json_length is not None:
            headers.append((HEADER_LENGTH, str(json_length).encode()))
        return 200, headers, body

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
