"""The OpenAPI document as the service really answers, not only its happy path.

FastAPI's generated document is right about requests and 200s; this module corrects
the rest of it, once per app (the document is cached on the app as usual):

- `$defs` that pydantic leaves inside hand-written schemas are moved to
  `components/schemas`, so every `$ref` resolves (client generators need that);
- every status a route can answer is declared, each error as `application/problem+json`
  in the one problem shape (`service.api.problems`): what every route may answer (the
  body limit's 413, an unexpected 500, admission's 503 outside the probes), what the
  guard answers (401, with the key configured), and what the route's own work raises
  (`ROUTE_ERRORS`: unknown model 404, image decoding 400/413/415, queue full or model
  not loaded 503, deadline 504, ...), with Retry-After on 503 and the request id on all;
- the API key is required exactly where the guard asks for it: nowhere without a key;
  with one, everywhere but the open routes (health, readiness, metrics, V2 health),
  which say `security: []` unless `protect_health_and_metrics` is set.
"""

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api.problems import PROBLEM_MEDIA_TYPE
from service.api.router import open_paths
from service.config import Settings
from service.server.admission import PROBE_PATHS

Document = dict[str, Any]

# Errors each route's own work can answer (the ones every route can are added to all).
# A version and a version label both named (400); unknown model, version or label (404);
# not loaded yet, or stopping (503).
_RESOLVES = frozenset({400, 404, 503})
_RUNS = frozenset({422, 503, 504})  # input the model cannot take; queue full; deadline
_IMAGES = frozenset({400, 413, 415})  # undecodable, too many pixels, not an image type
_INFERENCE = _RESOLVES | _RUNS
ROUTE_ERRORS: dict[str, frozenset[int]] = {
    "/healthz": frozenset({503}),  # the model runtime is not running
    "/readyz": frozenset({503}),  # loading, or stopping
    "/metrics": frozenset(),
    "/v2": frozenset(),
    "/v2/health/live": frozenset({503}),
    "/v2/health/ready": frozenset({503}),
    "/v1/classify": _INFERENCE | _IMAGES,
    "/classify": _INFERENCE | _IMAGES,
    "/v1/sequence/predict": _INFERENCE,
    "/sequence/predict": _INFERENCE,
    "/v1/generate": _INFERENCE,
    "/generate": _INFERENCE,
    "/v1/models": frozenset(),
    "/v1/models/{name}": frozenset({404}),
    "/v1/models/{name}/versions/{version}": frozenset({404}),
    "/v1/models/{name}/metadata": _RESOLVES,
    "/v1/models/{name}/versions/{version}/metadata": _RESOLVES,
    "/v1/models/{name}/versions/{version}/files/{filename}": frozenset({404}),
    "/v1/models/{name}:predict": _INFERENCE | _IMAGES,  # images as {"b64": ...}
    "/v1/models/{name}/versions/{version}:predict": _INFERENCE | _IMAGES,
    "/v1/models/{name}/shadow": frozenset({404}),
    "/v1/models/{name}/labels/{label}": frozenset({404}),
    "/v1/models/{name}/labels/{label}/metadata": _RESOLVES,
    "/v1/models/{name}/labels/{label}:predict": _INFERENCE | _IMAGES,
    "/v2/models/{name}": _RESOLVES,
    "/v2/models/{name}/versions/{version}": _RESOLVES,
    "/v2/models/{name}/ready": _RESOLVES,
    "/v2/models/{name}/versions/{version}/ready": _RESOLVES,
    "/v2/models/{name}/infer": _INFERENCE | _IMAGES,  # images as BYTES tensors
    "/v2/models/{name}/versions/{version}/infer": _INFERENCE | _IMAGES,
    "/v2/repository/index": frozenset({422}),  # a body that is not {"ready": bool}
}

_DESCRIPTIONS = {
    400: "The image or request could not be read",
    401: "Missing or invalid API key",
    404: "Unknown model, version or file",
    413: "The body, or an image's pixel count, is over the limit",
    415: "Not a media type the route takes",
    422: "The request does not fit the route or the model",
    500: "Unexpected error (quote the request id)",
    503: "Not ready, stopping, overloaded or the model's queue is full; retry later",
    504: "The model did not answer within the request timeout",
}

PROBLEM_SCHEMA: Document = {
    "title": "Problem",
    "description": "RFC 9457 problem details, plus the service's `code`, `request_id` "
    "and `error` (a copy of `detail`); validation errors add `errors`.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance", "code", "request_id"],
    "properties": {
        "type": {"type": "string", "example": "urn:kerasserve:problem:model_not_found"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "example": "model_not_found"},
        "request_id": {"type": "string"},
        "error": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
_HEADER = {"schema": {"type": "string"}}
_REQUEST_ID = {"X-Request-ID": {"description": "The request's id", **_HEADER}}
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", **_HEADER}},
    503: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}
# Success media types FastAPI cannot see (the routes return a plain Response).
_SUCCESS_CONTENT: dict[str, Document] = {
    "/metrics": {"text/plain": {"schema": {"type": "string"}}},
    "/v2/models/{name}/infer": {
        "application/json": {"schema": {"type": "object"}},
        "application/octet-stream": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "Triton's binary tensors: the JSON header, then raw tensors "
                "(Inference-Header-Content-Length says where the header ends).",
            }
        },
    },
}
_SUCCESS_CONTENT["/v2/models/{name}/versions/{version}/infer"] = _SUCCESS_CONTENT[
    "/v2/models/{name}/infer"
]


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve `service_openapi` at /openapi.json (and to /docs) instead of FastAPI's own."""

    def openapi() -> Document:
        if app.openapi_schema is None:
            app.openapi_schema = service_openapi(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def service_openapi(app: FastAPI, settings: Settings) -> Document:
    """FastAPI's document for ``app``, corrected as the module docstring says."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _hoist_defs(document, schemas)
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):  # replaced by Problem
        schemas.pop(name, None)
    _settings_limits(document, settings)
    public = open_paths()
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            guarded = settings.api_key is not None and (
                path not in public or settings.protect_health_and_metrics
            )
            _declare(path, operation, guarded)
    if settings.api_key is None:
        components.pop("securitySchemes", None)
    return document


def _settings_limits(document: Document, settings: Settings) -> None:
    """The limits the settings put on parameters and bodies, as schema bounds."""
    query_limits = {"n": settings.max_generate_samples, "top_k": settings.max_top_k}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                limit = query_limits.get(parameter["name"])
                if limit is not None and parameter["in"] == "query":
                    _walk(parameter["schema"], partial(_cap_integer, top=limit))
    for path in ("/v1/classify", "/classify"):
        body = document["paths"][path]["post"]["requestBody"]["content"]
        images = body["application/json"]["schema"]["properties"]["images"]
        images.update(minItems=1, maxItems=settings.max_files_per_request)
    sequence = document["components"]["schemas"].get("SequenceRequest")
    if sequence is not None:
        properties = sequence["properties"]
        properties["series"]["maxItems"] = settings.max_series_length
        _walk(properties["horizon"], partial(_cap_integer, top=settings.max_horizon))


def _cap_integer(item: Document, top: int) -> None:
    if item.get("type") == "integer":
        item["maximum"] = top


def _declare(path: str, operation: Document, guarded: bool) -> None:
    """The operation's security and every status it can answer."""
    operation["security"] = [{"HTTPBearer": []}] if guarded else []
    responses: Document = operation.setdefault("responses", {})
    ok = responses.setdefault("200", {"description": "OK"})
    if path in _SUCCESS_CONTENT:
        ok["content"] = copy.deepcopy(_SUCCESS_CONTENT[path])
    ok.setdefault("headers", {}).update(_REQUEST_ID)
    statuses = set(route_errors(path)) | {413, 500}
    if path not in PROBE_PATHS:  # never held back by admission
        statuses.add(503)
    if "422" in responses or operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)  # request validation
    if guarded:
        statuses.add(401)
    for status in sorted(statuses):
        responses[str(status)] = _problem_response(status)


def route_errors(path: str) -> frozenset[int]:
    """The route's own errors; for a route not in the table (a test keeps it complete),
    what its path says: it runs a model, or resolves one."""
    if path in ROUTE_ERRORS:
        return ROUTE_ERRORS[path]
    if path.endswith((":predict", "/infer")):
        return _INFERENCE | _IMAGES
    return _RESOLVES if "{name}" in path else frozenset()


def _problem_response(status: int) -> Document:
    return {
        "description": _DESCRIPTIONS[status],
        "headers": {**_REQUEST_ID, **_ERROR_HEADERS.get(status, {})},
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _hoist_defs(node: Any, schemas: Document) -> None:
    """Move every nested `$defs` into ``schemas`` and point its `$ref`s there."""
    _walk(node, lambda item: _move_defs(item, schemas))
    _walk(node, _rewrite_ref)


def _move_defs(item: Document, schemas: Document) -> None:
    for name, schema in item.pop("$defs", {}).items():
        schemas.setdefault(name, schema)
        _walk(schema, lambda inner: _move_defs(inner, schemas))


def _rewrite_ref(item: Document) -> None:
    ref = item.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        item["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")


def _walk(node: Any, visit: Callable[[Document], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in list(node.values()):
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)
