"""TensorFlow's `TensorProto` <-> NumPy, checked before anything is allocated.

`tf.make_ndarray` would do, but it trusts the declared shape: one value with a shape
of a billion elements is broadcast into a billion-element array. Here values must fill
the shape exactly (or one value is repeated, within ``max_bytes``), and packed
`tensor_content` must have exactly the shape's size. Answers use `tensor_content`
(`string_val` for strings), which `tf.make_ndarray` and every TF Serving client read.
"""

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tensorflow.core.framework import tensor_pb2, types_pb2

from service.errors import InvalidRequestError
from service.protocols.tfserving import TF_DTYPES

NUMPY_OF: dict[int, np.dtype[Any]] = {
    types_pb2.DataType.Value(tf_name): np.dtype(np_name) for np_name, tf_name in TF_DTYPES.items()
}
NUMPY_OF.update(
    {
        types_pb2.DT_UINT16: np.dtype("uint16"),
        types_pb2.DT_UINT32: np.dtype("uint32"),
        types_pb2.DT_UINT64: np.dtype("uint64"),
    }
)
TF_OF: dict[str, int] = {dtype.name: enum for enum, dtype in NUMPY_OF.items()}

# Which repeated field holds the values of each dtype when `tensor_content` is empty.
VALUES_FIELD: dict[int, str] = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_STRING: "string_val",
}


def _shape(proto: Any, name: str) -> list[int]:
    if proto.tensor_shape.unknown_rank:
        raise InvalidRequestError(f"input {name!r}: the shape must be known")
    shape = [int(dim.size) for dim in proto.tensor_shape.dim]
    if any(dim < 0 for dim in shape):
        raise InvalidRequestError(f"input {name!r}: shape {shape} has a negative dim")
    return shape


def to_array(proto: Any, name: str, max_bytes: int) -> NDArray[Any]:
    """The tensor as an array (an object array of bytes for DT_STRING)."""
    dtype = NUMPY_OF.get(proto.dtype)
    if dtype is None:
        known = proto.dtype in types_pb2.DataType.values()
        label = types_pb2.DataType.Name(proto.dtype) if known else str(proto.dtype)
        raise InvalidRequestError(f"input {name!r}: unsupported dtype {label}")
    shape = _shape(proto, name)
    count = math.prod(shape)
    if proto.tensor_content and dtype != np.object_:
        if len(proto.tensor_content) != count * dtype.itemsize:
            raise InvalidRequestError(
                f"input {name!r}: {len(proto.tensor_content)} bytes of tensor_content for "
                f"shape {shape} (expected {count * dtype.itemsize})"
            )
        return np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")).reshape(shape)
    values = list(getattr(proto, VALUES_FIELD[proto.dtype]))
    if len(values) == 1 and count != 1 and count * dtype.itemsize <= max_bytes:
        values = values * count  # TF's convention: one value fills the shape
    if len(values) != count:
        raise InvalidRequestError(f"input {name!r}: {len(values)} values do not fill shape {shape}")
    if proto.dtype == types_pb2.DT_HALF:  # half_val holds each value's 16 bits
        return np.asarray(values, dtype=np.uint16).view(np.float16).reshape(shape)
    if dtype == np.object_:
        array = np.empty(count, dtype=object)
        array[:] = values
        return array.reshape(shape)
    try:
        return np.asarray(values, dtype=dtype).reshape(shape)
    except OverflowError as exc:
        raise InvalidRequestError(f"input {name!r}: a value overflows {dtype}") from exc


def to_proto(array: NDArray[Any]) -> Any:
    """The array as a `TensorProto`: packed little-endian content, or `string_val`."""
    dtype = TF_OF.get(array.dtype.name)
    if dtype is None:
        raise InvalidRequestError(f"the model answered a {array.dtype} tensor TF cannot carry")
    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if array.dtype == np.object_:
        proto.string_val.extend(
            item if isinstance(item, bytes) else str(item).encode() for item in array.reshape(-1)
        )
    else:
        proto.tensor_content = np.ascontiguousarray(
            array, dtype=array.dtype.newbyteorder("<")
        ).tobytes()
    return proto
