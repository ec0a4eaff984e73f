"""The KServe V2 / Open Inference Protocol over REST: request parsing, response building.

Supports JSON tensors (flat or nested `data`) and Triton's binary tensor extension
(`Inference-Header-Content-Length`: a JSON header followed by raw little-endian
tensors), because `tritonclient.http` sends inputs and asks for outputs in binary by
default. Model tensors are numeric; BYTES appears in two places only:

- Encoded images in: an image model (one that binds as a classifier, see
  `service.runtime.spec`) takes a BYTES input of shape [N] or [N, 1] holding N
  encoded images, as base64 strings in JSON `data` or, in binary, each element as a
  4-byte little-endian length followed by its bytes (Triton's layout). An image model
  has exactly one input, so the BYTES input may carry its name or any other; it must
  be the request's only input. The images go through the model's own preprocessing.
- Triton's classification extension out: a requested output with
  `"parameters": {"classification": k}` comes back as BYTES [N, k] of
  `"score:index:label"` strings (see `classification`).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import ValidationError

from service.errors import InvalidRequestError
from service.ports import Model, TensorSpec
from service.protocols import v2_bytes
from service.protocols.numpy_json import dumps
from service.protocols.v2_classification import class_count, classification
from service.protocols.v2_messages import (
    BYTES,
    NUMPY_DTYPES,
    V2_DATATYPES,
    V2InferRequest,
    V2RequestedOutput,
    V2Tensor,
)
from service.tasks.classify import binding_of

HEADER_LENGTH = "inference-header-content-length"


def tensor_metadata(name: str, spec: TensorSpec) -> dict[str, Any]:
    """`{"name", "datatype", "shape"}` with -1 for variable dimensions."""
    return {
        "name": name,
        "datatype": V2_DATATYPES.get(spec.dtype, spec.dtype.upper()),
        "shape": [-1 if dim is None else dim for dim in spec.shape],
    }


def model_metadata(model: Model, versions: list[int]) -> dict[str, Any]:
    return {
        "name": model.name,
        "versions": [str(version) for version in versions],
        "platform": "tensorflow_savedmodel",
        "inputs": [tensor_metadata(name, spec) for name, spec in model.inputs.items()],
        "outputs": [tensor_metadata(name, spec) for name, spec in model.outputs.items()],
    }


def parse_request(body: bytes, header_length: str | None) -> tuple[V2InferRequest, bytes]:
    """The JSON part as a validated request, and the binary tail (maybe empty)."""
    split = len(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise InvalidRequestError("Inference-Header-Content-Length does not fit the body")
        split = int(header_length)
    try:
        return V2InferRequest.model_validate(orjson.loads(body[:split])), body[split:]
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidRequestError(f"invalid inference request at {where}: {first['msg']}") from exc


@dataclass(frozen=True)
class V2Inputs:
    """The request's inputs: numeric tensors by name, and BYTES inputs as their elements."""

    tensors: dict[str, NDArray[Any]] = field(default_factory=dict)
    encoded: dict[str, list[bytes]] = field(default_factory=dict)


def decode_inputs(request: V2InferRequest, binary: bytes) -> V2Inputs:
    """Each numeric input as an array of its datatype and shape; BYTES inputs as bytes."""
    decoded = V2Inputs()
    offset = 0
    for tensor in request.inputs:
        dtype = NUMPY_DTYPES.get(tensor.datatype)
        if dtype is None and tensor.datatype != BYTES:
            raise InvalidRequestError(
                f"input {tensor.name!r}: unsupported datatype {tensor.datatype}"
            )
        size = (tensor.parameters or {}).get("binary_data_size")
        raw: bytes | None = None
        if size is not None:
            raw = _binary_chunk(tensor, binary, offset, size)
            offset += len(raw)
        if dtype is None:
            decoded.encoded[tensor.name] = v2_bytes.image_elements(tensor, raw)
        elif raw is not None:
            decoded.tensors[tensor.name] = _from_binary(tensor, dtype, raw)
        else:
            decoded.tensors[tensor.name] = _from_json(tensor, dtype)
    return decoded


def _binary_chunk(tensor: V2Tensor, binary: bytes, offset: int, size: Any) -> bytes:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidRequestError(f"input {tensor.name!r}: binary_data_size must be a count")
    if offset + size > len(binary):
        raise InvalidRequestError(
            f"input {tensor.name!r}: binary_data_size {size} runs past the end of the body"
        )
    return binary[offset : offset + size]


def encoded_images(model: Model, inputs: V2Inputs, limit: int) -> list[bytes] | None:
    """The encoded images of a BYTES request, or None when every input is numeric.

    A 422 when the model takes no images, when the BYTES input is not the only one,
    or when it holds more than ``limit`` images.
    """
    if not inputs.encoded:
        return None
    binding_of(model)  # refuses a model that takes no images
    if inputs.tensors or len(inputs.encoded) > 1:
        raise InvalidRequestError(
            f"model {model.name!r} takes one input: send only the BYTES input of encoded images"
        )
    images = next(iter(inputs.encoded.values()))
    if len(images) > limit:
        raise InvalidRequestError(f"at most {limit} images per request, got {len(images)}")
    return images


def _element_count(tensor: V2Tensor) -> int:
    if any(dim < 0 for dim in tensor.shape):
        raise InvalidRequestError(f"input {tensor.name!r}: shape {tensor.shape} has a negative dim")
    return math.prod(tensor.shape)


def _from_binary(tensor: V2Tensor, dtype: np.dtype[Any], raw: bytes) -> NDArray[Any]:
    expected = _element_count(tensor) * dtype.itemsize
    if len(raw) != expected:
        raise InvalidRequestError(
            f"input {tensor.name!r}: {len(raw)} binary bytes for shape {tensor.shape} "
            f"of {tensor.datatype} (expected {expected})"
        )
    return np.frombuffer(raw, dtype=v2_bytes.little_endian(dtype)).reshape(tensor.shape)


def _from_json(tensor: V2Tensor, dtype: np.dtype[Any]) -> NDArray[Any]:
    if tensor.data is None:
        raise InvalidRequestError(f"input {tensor.name!r} has neither data nor binary_data_size")
    try:
        flat = np.asarray(tensor.data, dtype=dtype).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidRequestError(f"input {tensor.name!r}: data is not {tensor.datatype}") from exc
    if flat.size != _element_count(tensor):
        raise InvalidRequestError(
            f"input {tensor.name!r}: {flat.size} values do not fill shape {tensor.shape}"
        )
    return flat.reshape(tensor.shape)


def _wants_binary(request: V2InferRequest, output: V2RequestedOutput | None) -> bool:
    if output is not None and output.parameters and "binary_data" in output.parameters:
        return bool(output.parameters["binary_data"])
    return bool((request.parameters or {}).get("binary_data_output", False))


def select_outputs(
    model: Model, request: V2InferRequest, outputs: Mapping[str, NDArray[Any]]
) -> list[tuple[str, NDArray[Any], bool]]:
    """(name, array, as_binary) for every requested output (all when none are named);
    an output asked for with `classification` is replaced by its top-k strings."""
    if not request.outputs:
        return [(name, array, _wants_binary(request, None)) for name, array in outputs.items()]
    chosen = []
    for wanted in request.outputs:
        array = output_named(wanted.name, outputs)
        count = (wanted.parameters or {}).get("classification")
        if count is not None:
            array = classification(wanted.name, array, class_count(count), _labels(model))
        chosen.append((wanted.name, array, _wants_binary(request, wanted)))
    return chosen


def output_named(name: str, outputs: Mapping[str, NDArray[Any]]) -> NDArray[Any]:
    """The output a request asked for by name; a 400 naming the outputs there are."""
    array = outputs.get(name)
    if array is None:
        raise InvalidRequestError(f"unknown output {name!r} (outputs: {', '.join(outputs)})")
    return array


def _labels(model: Model) -> Sequence[str]:
    return model.spec.card.labels or ()


def _tensor_entry(name: str, array: NDArray[Any], as_binary: bool) -> tuple[dict[str, Any], bytes]:
    """The output's JSON description, and its binary bytes when sent in binary."""
    is_bytes = array.dtype == np.object_
    datatype = v2_bytes.datatype_of(array)
    entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if not as_binary:
        flat = np.ascontiguousarray(array).reshape(-1)
        entry["data"] = flat.tolist() if is_bytes else flat
        return entry, b""
    raw = v2_bytes.raw_bytes(array)
    entry["parameters"] = {"binary_data_size": len(raw)}
    return entry, raw


def encode_response(
    model: Model, request: V2InferRequest, outputs: Mapping[str, NDArray[Any]]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header length when binary tensors follow it."""
    tensors: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array, as_binary in select_outputs(model, request, outputs):
        entry, raw = _tensor_entry(name, array, as_binary)
        tensors.append(entry)
        if as_binary:
            chunks.append(raw)
    answer: dict[str, Any] = {
        "model_name": model.name,
        "model_version": str(model.version),
        "outputs": tensors,
    }
    if request.id is not None:
        answer["id"] = request.id
    header = dumps(answer)
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)
