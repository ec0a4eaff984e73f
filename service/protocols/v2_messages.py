"""The KServe V2 request messages over REST, and its datatype names for NumPy's dtypes.

Shared by the request parser (`kserve_v2`) and the BYTES codec (`v2_bytes`), so
neither imports the other.
"""

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

V2_DATATYPES: dict[str, str] = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}
BYTES = "BYTES"  # encoded images in, strings out (`service.protocols.v2_bytes`)
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    v2: np.dtype(np_name) for np_name, v2 in V2_DATATYPES.items()
}


class V2Tensor(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    shape: list[int] = Field(description="Dimensions; the data has prod(shape) elements.")
    datatype: str = Field(examples=["FP32"])
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = Field(default=None, description="Row-major, flat or nested.")


class V2RequestedOutput(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    parameters: dict[str, Any] | None = None


class V2InferRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2Tensor] = Field(min_length=1)
    outputs: list[V2RequestedOutput] | None = None
