"""Hostile input over gRPC: always a status code, never a crash or a hang."""

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

pytestmark = pytest.mark.slow

INFER = "/inference.GRPCInferenceService/ModelInfer"


def _code(call):
    with pytest.raises(grpc.RpcError) as failed:
        call()
    return failed.value.code()


def _v2(**fields):
    request = service_pb2.ModelInferRequest(model_name="tiny_forecaster", **fields)
    return request


def _series(shape, datatype="FP32", **contents):
    tensor = service_pb2.ModelInferRequest.InferInputTensor(
        name="series", datatype=datatype, shape=shape
    )
    for field, values in contents.items():
        getattr(tensor.contents, field).extend(values)
    return tensor


def test_malformed_bytes_sent_with_a_generic_stub(channel):
    raw = channel.unary_unary(INFER)  # no serializer: the bytes go as they are
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", bytes(range(256)) * 4):
        assert _code(lambda g=garbage: raw(g, timeout=10)) in (
            grpc.StatusCode.INTERNAL,
            grpc.StatusCode.INVALID_ARGUMENT,
        )


def test_huge_declared_shapes_raw_of_wrong_size_and_unknown_datatypes(channel):
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    huge = _v2(inputs=[_series([1 << 40, 1 << 20])], raw_input_contents=[b"\0" * 48])
    wrong_raw = _v2(inputs=[_series([1, 12])], raw_input_contents=[b"\0" * 47])
    extra_raw = _v2(inputs=[_series([1, 12])], raw_input_contents=[b"\0" * 48, b""])
    unknown = _v2(inputs=[_series([1, 12], "COMPLEX128")], raw_input_contents=[b"\0" * 48])
    typed_short = _v2(inputs=[_series([1 << 40], fp32_contents=[1.0])])
    negative = _v2(inputs=[_series([-1, 12])], raw_input_contents=[b""])
    bad_bytes = _v2(inputs=[_series([1], "BYTES")], raw_input_contents=[b"\xff\xff\xff\xff"])
    for request in (huge, wrong_raw, extra_raw, unknown, typed_short, negative, bad_bytes):
        code = _code(lambda r=request: stub.ModelInfer(r, timeout=10))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, request


def test_tf_serving_huge_shapes_and_unknown_dtypes(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    for proto in (
        tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0]),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\0" * 7),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_COMPLEX64, float_val=[1.0]),
        tensor_pb2.TensorProto(dtype=999, float_val=[1.0]),
    ):
        for size in (1 << 40, 1 << 20):
            proto.tensor_shape.dim.add(size=size)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "tiny_forecaster"
        request.inputs["series"].CopyFrom(proto)
        code = _code(lambda r=request: stub.Predict(r, timeout=10))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, proto.dtype


def test_a_100_megabyte_message_is_refused_and_the_server_stays_healthy(channel):
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    rows = 100 * 1024 * 1024 // 48
    request = _v2(
        inputs=[_series([rows, 12])], raw_input_contents=[np.zeros(rows * 12, "<f4").tobytes()]
    )
    assert _code(lambda: stub.ModelInfer(request, timeout=60)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    health = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == serving
