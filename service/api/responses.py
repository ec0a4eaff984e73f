"""A JSON response rendered by orjson, which serialises numpy arrays natively.

The protocol routes (TF Serving, KServe V2) return whole output tensors; orjson writes
them straight from the arrays, which is several times faster than `.tolist()` plus
the standard encoder. (FastAPI deprecated its own `ORJSONResponse`, hence this one.)
"""

from typing import Any

from starlette.responses import JSONResponse

from service.protocols.numpy_json import dumps


class FastJSONResponse(JSONResponse):
    """`application/json` rendered with orjson."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
