"""KServe V2 `infer` as both HTTP paths give it: the FastAPI routes and the lean path.

`service.api.routes.kserve_v2` (the routes, reference and OpenAPI description) and
`service.api.fast_classify` (the pure-ASGI layer, for a plain POST with no query
string) read the request each their own way, then answer through `infer_answer`.
"""

import re

from service.config import Settings
from service.protocols import kserve_v2
from service.tasks.predict import predict
from service.tasks.resolver import ModelResolver

# /v2/models/{name}/infer and /v2/models/{name}/versions/{version}/infer, version >= 1
INFER_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([1-9][0-9]{0,17}))?/infer")
JSON_TYPE, BINARY_TYPE = "application/json", "application/octet-stream"


async def infer_answer(
    resolver: ModelResolver,
    settings: Settings,
    name: str,
    version: int | None,
    body: bytes,
    header_length: str | None,
) -> tuple[bytes, str, int | None]:
    """The answer's body, media type and, for binary outputs, its JSON header's length."""
    model = resolver.get(name, version)
    parsed, binary = kserve_v2.parse_request(body, header_length)
    decoded = kserve_v2.decode_inputs(parsed, binary)
    images = kserve_v2.encoded_images(model, decoded, settings.max_files_per_request)
    outputs = await predict(model, decoded.tensors, images, max_pixels=settings.max_image_pixels)
    answer, json_length = kserve_v2.encode_response(model, parsed, outputs)
    return answer, JSON_TYPE if json_length is None else BINARY_TYPE, json_length
