"""Health, reflection, deadlines and the request metrics of the gRPC server."""

import grpc
import httpx
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

pytestmark = pytest.mark.slow

_SERVING = health_pb2.HealthCheckResponse.SERVING


def test_health_check_server_and_models(channel):
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == _SERVING
    named = health_pb2.HealthCheckRequest(service="tiny_classifier")
    assert health.Check(named, timeout=10).status == _SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        health.Check(health_pb2.HealthCheckRequest(service="no_such_model"), timeout=10)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_watch_sends_the_current_status(channel):
    health = health_pb2_grpc.HealthStub(channel)
    stream = health.Watch(health_pb2.HealthCheckRequest(), timeout=10)
    assert next(stream).status == _SERVING
    stream.cancel()
    unknown = health.Watch(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
    assert next(unknown).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    unknown.cancel()


def test_reflection_lists_the_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answer = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {service.name for service in answer.list_services_response.service}
    assert names >= {
        "inference.GRPCInferenceService",
        "tensorflow.serving.PredictionService",
        "tensorflow.serving.ModelService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def _predict(channel, timeout, rows=1):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tiny_forecaster"
    series = np.ones((rows, 12), np.float32)
    request.inputs["series"].CopyFrom(tf.make_tensor_proto(series))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return stub.Predict.with_call(request, timeout=timeout, metadata=[("x-request-id", "rid-1")])


def test_a_one_millisecond_deadline_is_exceeded_and_the_server_stays_healthy(channel):
    for _ in range(5):
        with pytest.raises(grpc.RpcError) as late:
            _predict(channel, timeout=0.001, rows=512)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == _SERVING
    _, call = _predict(channel, timeout=30)
    assert call.code() == grpc.StatusCode.OK


def test_request_id_trailer_and_metrics_with_the_protocol_label(channel, rpc_live):
    _, call = _predict(channel, timeout=30)
    assert ("x-request-id", "rid-1") in tuple(call.trailing_metadata())
    text = httpx.get(f"{rpc_live.http.url}/metrics").text
    line = next(
        row
        for row in text.splitlines()
        if row.startswith("kerasserve_requests_total{")
        and 'endpoint="/tensorflow.serving.PredictionService/Predict"' in row
        and 'status="OK"' in row
    )
    assert 'protocol="grpc"' in line and 'model="tiny_forecaster"' in line
    assert 'protocol="http"' in httpx.get(f"{rpc_live.http.url}/metrics").text
