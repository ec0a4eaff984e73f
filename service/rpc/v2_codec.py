"""KServe V2 gRPC messages <-> NumPy, with the REST translator's rules.

Inputs come as typed `contents` or as `raw_input_contents` (one raw entry per input,
little-endian; BYTES in Triton's length-prefixed layout), never both for one input;
a raw-entry count that does not match the inputs is refused. Every size is checked
against the declared shape before anything is allocated. BYTES inputs are encoded
images (`service.protocols.kserve_v2.encoded_images` decides what a model accepts).
Outputs are answered in `raw_output_contents`, the form `tritonclient.grpc` reads;
the classification extension is the REST one (`select_outputs`).
"""

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidRequestError
from service.ports import Model
from service.protocols import v2_bytes
from service.protocols.kserve_v2 import V2Inputs, output_named, select_outputs
from service.protocols.v2_messages import (
    BYTES,
    NUMPY_DTYPES,
    V2InferRequest,
    V2RequestedOutput,
    V2Tensor,
)

# Which `InferTensorContents` field holds each datatype (FP16 travels raw only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def parameter_value(parameter: Any) -> Any:
    """The Python value of an `InferParameter` (whichever of its fields is set)."""
    which = parameter.WhichOneof("parameter_choice")
    return None if which is None else getattr(parameter, which)


def decode_inputs(request: Any) -> V2Inputs:
    """Each numeric input as an array of its datatype and shape; BYTES inputs as bytes."""
    inputs, raw = request.inputs, request.raw_input_contents
    if raw and len(raw) != len(inputs):
        raise InvalidRequestError(
            f"{len(raw)} raw_input_contents for {len(inputs)} inputs: send one raw "
            "entry per input, or none"
        )
    if not inputs:
        raise InvalidRequestError("the request has no inputs")
    decoded = V2Inputs()
    for index, tensor in enumerate(inputs):
        chunk = raw[index] if raw else None
        if chunk is not None and tensor.HasField("contents"):
            raise InvalidRequestError(f"input {tensor.name!r} has both contents and raw contents")
        shape = _shape(tensor)
        if tensor.datatype == BYTES:
            decoded.encoded[tensor.name] = _images(tensor, shape, chunk)
        else:
            decoded.tensors[tensor.name] = _numeric(tensor, shape, chunk)
    return decoded


def _shape(tensor: Any) -> list[int]:
    shape = list(tensor.shape)
    if shape and min(shape) < 0:
        raise InvalidRequestError(f"input {tensor.name!r}: shape {shape} has a negative dim")
    return shape


def _images(tensor: Any, shape: list[int], chunk: bytes | None) -> list[bytes]:
    """The encoded images, typed `bytes_contents` packed as the raw layout to share checks."""
    raw = chunk if chunk is not None else v2_bytes.pack(list(tensor.contents.bytes_contents))
    # Built from checked fields: validating them again cost a PNG call ~5 us.
    described = V2Tensor.model_construct(name=tensor.name, shape=shape, datatype=BYTES)
    return v2_bytes.image_elements(described, raw)


def _numeric(tensor: Any, shape: list[int], chunk: bytes | None) -> NDArray[Any]:
    dtype = NUMPY_DTYPES.get(tensor.datatype)
    if dtype is None:
        raise InvalidRequestError(f"input {tensor.name!r}: unsupported datatype {tensor.datatype}")
    count = math.prod(shape)
    if chunk is not None:
        if len(chunk) != count * dtype.itemsize:
            raise InvalidRequestError(
                f"input {tensor.name!r}: {len(chunk)} raw bytes for shape {shape} of "
                f"{tensor.datatype} (expected {count * dtype.itemsize})"
            )
        return np.frombuffer(chunk, dtype=v2_bytes.little_endian(dtype)).reshape(shape)
    field = CONTENTS_FIELD.get(tensor.datatype)
    if field is None:
        raise InvalidRequestError(f"input {tensor.name!r}: {tensor.datatype} travels raw only")
    values = getattr(tensor.contents, field)
    if len(values) != count:
        raise InvalidRequestError(
            f"input {tensor.name!r}: {len(values)} values do not fill shape {shape}"
        )
    try:
        return np.asarray(values, dtype=dtype).reshape(shape)
    except OverflowError as exc:
        raise InvalidRequestError(f"input {tensor.name!r}: a value overflows {dtype}") from exc


def requested(request: Any) -> V2InferRequest:
    """The request's `outputs` as the REST translator's message, for `select_outputs`."""
    outputs = [
        V2RequestedOutput(
            name=output.name,
            parameters={key: parameter_value(value) for key, value in output.parameters.items()},
        )
        for output in request.outputs
    ]
    return V2InferRequest.model_construct(id=request.id or None, outputs=outputs or None)


def encode_response(
    response: Any, model: Model, request: Any, outputs: Mapping[str, NDArray[Any]]
) -> Any:
    """Fill ``response`` (a `ModelInferResponse`) with the requested outputs, raw."""
    response.model_name = model.name
    response.model_version = str(model.version)
    response.id = request.id
    for name, array in _chosen(model, request, outputs):
        response.outputs.add(name=name, datatype=v2_bytes.datatype_of(array), shape=array.shape)
        response.raw_output_contents.append(v2_bytes.raw_bytes(array))
    return response


def _chosen(
    model: Model, request: Any, outputs: Mapping[str, NDArray[Any]]
) -> Iterable[tuple[str, NDArray[Any]]]:
    """The outputs to answer: all when none are named. Most calls name theirs plainly and
    take them as they are; an output with parameters (the classification extension)
    goes through the REST translator's rules."""
    wanted = request.outputs
    if not wanted:
        return outputs.items()
    if any(output.parameters for output in wanted):
        selected = select_outputs(model, requested(request), outputs)
        return [(name, array) for name, array, _ in selected]
    return [(output.name, output_named(output.name, outputs)) for output in wanted]
