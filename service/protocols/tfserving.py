"""TensorFlow Serving's REST API shapes: model status, metadata and `:predict`.

Mirrors https://www.tensorflow.org/tfx/serving/api_rest so existing TF Serving clients
work unchanged: row (`instances` -> `predictions`) and columnar (`inputs` -> `outputs`)
request formats; a single output is answered as a plain list, several as named fields.
TF Serving has no FAILED state: a version that failed to load is reported as END with
error_code UNKNOWN and the reason, as TF Serving itself does.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidRequestError
from service.ports import Model, Status, TensorSpec

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"

TF_DTYPES: dict[str, str] = {
    "bool": "DT_BOOL",
    "uint8": "DT_UINT8",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "float16": "DT_HALF",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "object": "DT_STRING",
}


def version_status(statuses: Sequence[Status]) -> dict[str, Any]:
    """`{"model_version_status": [...]}`, newest version first like TF Serving."""
    entries = []
    for status in sorted(statuses, key=lambda item: item.version, reverse=True):
        failed = status.state == "FAILED"
        entries.append(
            {
                "version": str(status.version),
                "state": "END" if failed else status.state,
                "status": {
                    "error_code": "UNKNOWN" if failed else "OK",
                    "error_message": (status.error or "") if failed else "",
                },
            }
        )
    return {"model_version_status": entries}


def signature_name(model: Model) -> str:
    name = model.card.get("signature_name")
    return name if isinstance(name, str) and name else DEFAULT_SIGNATURE


def _tensor_info(name: str, spec: TensorSpec, prefix: str) -> dict[str, Any]:
    return {
        "dtype": TF_DTYPES.get(spec.dtype, "DT_INVALID"),
        "tensor_shape": {
            "dim": [{"size": str(-1 if dim is None else dim), "name": ""} for dim in spec.shape],
            "unknown_rank": False,
        },
        "name": f"{prefix}{name}:0",
    }


def metadata(model: Model) -> dict[str, Any]:
    """The `GetModelMetadata` answer: the model spec and its signature_def map."""
    signature = {
        "inputs": {
            name: _tensor_info(name, spec, f"{signature_name(model)}_")
            for name, spec in model.inputs.items()
        },
        "outputs": {
            name: _tensor_info(name, spec, "StatefulPartitionedCall:")
            for name, spec in model.outputs.items()
        },
        "method_name": PREDICT_METHOD,
        "defaults": {},
    }
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {"signature_def": {"signature_def": {signature_name(model): signature}}},
    }


def _array(name: str, value: Any, spec: TensorSpec) -> NDArray[Any]:
    try:
        return np.asarray(value, dtype=np.dtype(spec.dtype))
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidRequestError(
            f"input {name!r} is not a rectangular {spec.dtype} array: {exc}"
        ) from exc


def _rows(instances: list[Any], model: Model) -> dict[str, NDArray[Any]]:
    names = list(model.inputs)
    if not instances:
        raise InvalidRequestError("'instances' must hold at least one instance")
    if len(names) == 1 and not all(isinstance(row, dict) for row in instances):
        return {names[0]: _array(names[0], instances, model.inputs[names[0]])}
    if not all(isinstance(row, dict) for row in instances):
        raise InvalidRequestError(f"each instance must be an object with the inputs {names}")
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for row in instances:
        if set(row) != set(names):
            raise InvalidRequestError(f"each instance must have exactly the inputs {names}")
        for name in names:
            columns[name].append(row[name])
    return {name: _array(name, columns[name], model.inputs[name]) for name in names}


def _columns(inputs: Any, model: Model) -> dict[str, NDArray[Any]]:
    names = list(model.inputs)
    if isinstance(inputs, dict):
        unknown = set(inputs) - set(names)
        if unknown:
            raise InvalidRequestError(f"unknown inputs {sorted(unknown)}; the model has {names}")
        return {name: _array(name, value, model.inputs[name]) for name, value in inputs.items()}
    if len(names) != 1:
        raise InvalidRequestError(f"'inputs' must be an object naming the inputs {names}")
    return {names[0]: _array(names[0], inputs, model.inputs[names[0]])}


def parse_predict(body: Any, model: Model) -> tuple[dict[str, NDArray[Any]], bool]:
    """The input arrays and whether the request used the columnar format."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    wanted = body.get("signature_name")
    if wanted not in (None, "", signature_name(model)):
        raise InvalidRequestError(
            f"unknown signature {wanted!r}; the model has {signature_name(model)!r}"
        )
    if ("instances" in body) == ("inputs" in body):
        raise InvalidRequestError("send exactly one of 'instances' (rows) or 'inputs' (columns)")
    if "instances" in body:
        if not isinstance(body["instances"], list):
            raise InvalidRequestError("'instances' must be a list")
        return _rows(body["instances"], model), False
    return _columns(body["inputs"], model), True


def encode_predict(outputs: Mapping[str, NDArray[Any]], columnar: bool) -> dict[str, Any]:
    """`{"predictions": ...}` for rows or `{"outputs": ...}` for columns."""
    if columnar:
        if len(outputs) == 1:
            return {"outputs": next(iter(outputs.values()))}
        return {"outputs": dict(outputs)}
    if len(outputs) == 1:
        return {"predictions": next(iter(outputs.values()))}
    rows = len(next(iter(outputs.values())))
    lists = {name: array.tolist() for name, array in outputs.items()}
    return {"predictions": [{name: lists[name][i] for name in lists} for i in range(rows)]}
