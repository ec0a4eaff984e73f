"""TF Serving's gRPC API, driven by the `tensorflow-serving-api` stubs."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tests.service.api.util import png_bytes

pytestmark = pytest.mark.slow


@pytest.fixture
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _request(model, version=None, **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def test_predict_with_tensors_and_version(stub):
    series = np.arange(24, dtype=np.float32).reshape(2, 12)
    response = stub.Predict(_request("tiny_forecaster", 1, series=series), timeout=30)
    forecast = tf.make_ndarray(response.outputs["forecast"])
    assert forecast.shape == (2, 3) and forecast.dtype == np.float32
    assert response.model_spec.name == "tiny_forecaster"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


def test_predict_with_encoded_images_goes_through_preprocessing(stub):
    images = np.array([png_bytes(200), png_bytes(40, size=(56, 56))], dtype=object)
    response = stub.Predict(_request("tiny_classifier", images=images), timeout=30)
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_output_filter(stub):
    images = np.array([png_bytes(200)], dtype=object)
    request = _request("tiny_classifier", images=images)
    request.output_filter.append("probabilities")
    assert list(stub.Predict(request, timeout=30).outputs) == ["probabilities"]


def test_model_metadata_has_the_signature(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tiny_generator"
    response = stub.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    assert signature.inputs["noise"].dtype == tf.float32.as_datatype_enum
    assert [dim.size for dim in signature.inputs["noise"].tensor_shape.dim] == [-1, 8]


def test_model_status(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "tiny_classifier"
    status = stub.GetModelStatus(request, timeout=30).model_version_status
    assert [(s.version, s.state) for s in status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]
    request.model_spec.version.value = 9
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetModelStatus(request, timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_errors(stub):
    with pytest.raises(grpc.RpcError) as unknown:
        stub.Predict(_request("no_such_model", series=np.ones((1, 12), np.float32)), timeout=30)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as shape:
        stub.Predict(_request("tiny_forecaster", series=np.ones((1, 5), np.float32)), timeout=30)
    assert shape.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as not_images:
        stub.Predict(_request("tiny_forecaster", series=np.array([b"x"], dtype=object)), timeout=30)
    assert not_images.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as no_field:
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = "tiny_generator"
        stub.GetModelMetadata(request, timeout=30)
    assert no_field.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_classify_regress_and_multi_inference_answer_as_tf_serving(stub):
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "tiny_classifier"
    with pytest.raises(grpc.RpcError) as refused:
        stub.Classify(classify, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expected classification signature method_name to be" in refused.value.details()
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "tiny_forecaster"
    with pytest.raises(grpc.RpcError) as refused:
        stub.Regress(regress, timeout=30)
    assert "tensorflow/serving/regress. Was: tensorflow/serving/predict" in refused.value.details()
    multi = inference_pb2.MultiInferenceRequest()
    with pytest.raises(grpc.RpcError) as empty:
        stub.MultiInference(multi, timeout=30)
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    task = multi.tasks.add(method_name="tensorflow/serving/predict")
    task.model_spec.name = "tiny_classifier"
    with pytest.raises(grpc.RpcError) as unsupported:
        stub.MultiInference(multi, timeout=30)
    assert unsupported.value.code() == grpc.StatusCode.UNIMPLEMENTED
