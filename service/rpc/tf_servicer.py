"""TF Serving's `PredictionService` and `ModelService` over the task layer.

Predict takes named `TensorProto`s, or, for an image model, one `DT_STRING` tensor of
N encoded images ([N] or [N, 1]) that goes through the model's own preprocessing as
`{"b64": ...}` does on REST. Every model here has one predict signature, so Classify,
Regress and MultiInference answer what TF Serving answers for such a signature:
INVALID_ARGUMENT "Expected classification signature method_name to be
tensorflow/serving/classify. Was: tensorflow/serving/predict" (and the regression
twin), UNIMPLEMENTED for a MultiInference task of any other method. Metadata and
status are the REST documents (`service.protocols.tfserving`) parsed into the protos.
"""

from typing import Any

import grpc
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from service.errors import InvalidRequestError
from service.ports import Model
from service.protocols import tfserving
from service.rpc.calls import STILL_ACCEPTING, current_call
from service.rpc.deadline import timeout_of
from service.rpc.status import RpcStatusError
from service.rpc.tf_codec import to_array, to_proto
from service.runtime.errors import ModelNotFoundError, VersionNotFoundError
from service.server.services import Services
from service.tasks.classify import binding_of
from service.tasks.predict import predict
from service.tasks.resolver import ModelResolver

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def _version(spec: Any) -> int | None:
    return int(spec.version.value) if spec.HasField("version") else None


def _check_signature(spec: Any, model: Model) -> None:
    if spec.signature_name not in ("", tfserving.signature_name(model)):
        raise InvalidRequestError(f"No signature was found with the name: {spec.signature_name}")


class _Models:
    """What both services share: the model a `ModelSpec` names, through the resolver."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings

    def model(self, spec: Any) -> Model:
        services = self.services
        resolver = ModelResolver(
            services.repository, STILL_ACCEPTING, current_call(), self.settings.default_models
        )
        call = current_call()
        label = spec.version_label or None
        model = resolver.get(spec.name, _version(spec), label=label, route_key=call.route_key)
        _check_signature(spec, model)
        return model


def _wrong_method(method: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Expected {'classification' if method == CLASSIFY_METHOD else 'regression'} "
        f"signature method_name to be {method}. Was: {tfserving.PREDICT_METHOD}"
    )


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer, _Models):
    async def Predict(self, request: Any, context: Any) -> Any:  # noqa: N802
        model = self.model(request.model_spec)
        tensors, images = self._inputs(request, model)
        outputs = await predict(
            model,
            tensors,
            images,
            max_pixels=self.settings.max_image_pixels,
            timeout_s=timeout_of(context, self.settings.request_timeout_s),
            in_company=current_call().in_company,
        )
        wanted = list(request.output_filter) or list(outputs)
        unknown = sorted(set(wanted) - set(outputs))
        if unknown:
            raise InvalidRequestError(f"unknown outputs {unknown} (outputs: {list(outputs)})")
        response = predict_pb2.PredictResponse()
        self._spec(response.model_spec, model)
        for name in wanted:
            response.outputs[name].CopyFrom(to_proto(outputs[name]))
        return response

    def _inputs(self, request: Any, model: Model) -> tuple[dict[str, Any], list[bytes] | None]:
        limit = self.settings.grpc_max_message_bytes
        strings = [name for name, t in request.inputs.items() if t.dtype == types_pb2.DT_STRING]
        if not strings:
            return {name: to_array(t, name, limit) for name, t in request.inputs.items()}, None
        binding_of(model)  # refuses a model that takes no images
        if len(request.inputs) != 1:
            raise InvalidRequestError(
                f"model {model.name!r} takes one input: send only the DT_STRING tensor of images"
            )
        array = to_array(request.inputs[strings[0]], strings[0], limit)
        if array.ndim not in (1, 2) or array.shape[1:] not in ((), (1,)) or not array.size:
            raise InvalidRequestError(
                f"input {strings[0]!r}: a DT_STRING tensor of images has shape [N] or [N, 1]"
            )
        if array.size > self.settings.max_files_per_request:
            raise InvalidRequestError(
                f"at most {self.settings.max_files_per_request} images per request, "
                f"got {array.size}"
            )
        return {}, [bytes(item) for item in array.reshape(-1)]

    @staticmethod
    def _spec(spec: Any, model: Model) -> None:
        spec.name = model.name
        spec.version.value = model.version
        spec.signature_name = tfserving.signature_name(model)

    async def GetModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        fields = list(request.metadata_field)
        if not fields:
            raise InvalidRequestError(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        unsupported = sorted(set(fields) - {"signature_def"})
        if unsupported:
            raise InvalidRequestError(f"Metadata field {unsupported[0]} is not supported")
        model = self.model(request.model_spec)
        document = tfserving.metadata(model)["metadata"]["signature_def"]
        signatures = json_format.ParseDict(document, get_model_metadata_pb2.SignatureDefMap())
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = model.name
        response.model_spec.version.value = model.version
        response.metadata["signature_def"].Pack(signatures)
        return response

    async def Classify(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.model(request.model_spec)
        raise _wrong_method(CLASSIFY_METHOD)

    async def Regress(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.model(request.model_spec)
        raise _wrong_method(REGRESS_METHOD)

    async def MultiInference(self, request: Any, context: Any) -> Any:  # noqa: N802
        if not request.tasks:
            raise InvalidRequestError("Found no tasks in MultiInferenceRequest.")
        for task in request.tasks:
            self.model(task.model_spec)
            if task.method_name in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise _wrong_method(task.method_name)
        method = request.tasks[0].method_name
        raise RpcStatusError(
            grpc.StatusCode.UNIMPLEMENTED, f"Unsupported signature method_name: {method}"
        )


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer, _Models):
    async def GetModelStatus(self, request: Any, context: Any) -> Any:  # noqa: N802
        spec = request.model_spec
        call = current_call()
        call.record_unknown_model()
        found = list(self.services.repository.statuses(spec.name))
        if not found:
            raise ModelNotFoundError(spec.name)
        call.record_model(spec.name, None)
        version = _version(spec)
        if version is not None:
            found = [status for status in found if status.version == version]
            if not found:
                raise VersionNotFoundError(spec.name, version)
            call.record_model(spec.name, version)
        document = tfserving.version_status(found)
        return json_format.ParseDict(document, get_model_status_pb2.GetModelStatusResponse())
