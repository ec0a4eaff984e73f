"""TensorFlow Serving's REST API shapes: model status, metadata and `:predict`.

Mirrors https://www.tensorflow.org/tfx/serving/api_rest so existing TF Serving clients
work unchanged: row (`instances` -> `predictions`) and columnar (`inputs` -> `outputs`)
request formats; a single output is answered as a plain list, several as named fields.

Image models (those that bind as classifiers, see `service.runtime.spec`) also take
TF Serving's binary convention: encoded images as `{"b64": "..."}` objects, either as
whole instances (`{"instances": [{"b64": ...}]}`), named by the model's input
(`{"instances": [{"images": {"b64": ...}}]}`), or in the columnar format
(`{"inputs": [{"b64": ...}]}`, `{"inputs": {"images": [{"b64": ...}]}}`). They are
decoded through the model's own preprocessing, and the outputs are answered exactly
as for tensor input.

TF Serving has no FAILED state: a version that failed to load is reported as END with
error_code UNKNOWN and the reason, as TF Serving itself does.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidRequestError
from service.ports import Model, Status, TensorSpec
from service.tasks.classify import binding_of
from service.tasks.encoding import decode_b64

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
    return model.card.signature_name or DEFAULT_SIGNATURE


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


@dataclass(frozen=True)
class PredictRequest:
    """A parsed `:predict` body: input tensors, or encoded images for an image model."""

    columnar: bool
    tensors: dict[str, NDArray[Any]] = field(default_factory=dict)
    images: list[bytes] = field(default_factory=list)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and "b64" in value


def _image_of(row: Any, input_name: str, where: str) -> bytes:
    """One instance: `{"b64": ...}` or `{"<input name>": {"b64": ...}}`."""
    if isinstance(row, dict) and set(row) == {input_name}:
        return decode_b64(row[input_name], f"{where}.{input_name}")
    if _is_b64(row):
        return decode_b64(row, where)
    named = f" (it names {sorted(row)})" if isinstance(row, dict) else ""
    raise InvalidRequestError(
        f'{where} must be {{"b64": "<base64 image>"}} or {{"{input_name}": {{"b64": ...}}}}'
        f"{named}; the model's image input is {input_name!r}"
    )


def _uses_b64(body: dict[str, Any]) -> bool:
    """Whether any instance or input column holds a `{"b64": ...}` object."""
    items = body.get("instances", body.get("inputs"))
    if isinstance(items, dict):
        items = [value for column in items.values() for value in _listed(column)]
    if not isinstance(items, list):
        return False
    return any(
        _is_b64(item) or (isinstance(item, dict) and any(map(_is_b64, item.values())))
        for item in items
    )


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _images(body: dict[str, Any], model: Model, limit: int) -> list[bytes]:
    """The encoded images of a b64 request, in order; 422 for a model that takes none."""
    input_name = binding_of(model).input
    columnar = "inputs" in body
    items = body["inputs"] if columnar else body["instances"]
    where = "inputs" if columnar else "instances"
    if columnar and isinstance(items, dict):
        if set(items) != {input_name} or not isinstance(items[input_name], list):
            raise InvalidRequestError(
                f'send {{"inputs": {{"{input_name}": [{{"b64": ...}}, ...]}}}}; '
                f"the model's image input is {input_name!r}"
            )
        items, where = items[input_name], f"inputs.{input_name}"
    if len(items) > limit:
        raise InvalidRequestError(f"at most {limit} images per request, got {len(items)}")
    if columnar:
        return [decode_b64(item, f"{where}[{i}]") for i, item in enumerate(items)]
    return [_image_of(row, input_name, f"{where}[{i}]") for i, row in enumerate(items)]


def parse_predict(body: Any, model: Model, *, max_images: int) -> PredictRequest:
    """The input tensors (or encoded images) and whether the request was columnar."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    wanted = body.get("signature_name")
    if wanted not in (None, "", signature_name(model)):
        raise InvalidRequestError(
            f"unknown signature {wanted!r}; the model has {signature_name(model)!r}"
        )
    if ("instances" in body) == ("inputs" in body):
        raise InvalidRequestError("send exactly one of 'instances' (rows) or 'inputs' (columns)")
    columnar = "inputs" in body
    if _uses_b64(body):
        return PredictRequest(columnar, images=_images(body, model, max_images))
    if columnar:
        return PredictRequest(columnar, tensors=_columns(body["inputs"], model))
    if not isinstance(body["instances"], list):
        raise InvalidRequestError("'instances' must be a list")
    return PredictRequest(columnar, tensors=_rows(body["instances"], model))


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
