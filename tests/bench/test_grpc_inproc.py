"""bench.grpc_inproc: the service's own ModelInfer handler, called in process on the zoo."""

import asyncio
from pathlib import Path

import pytest
from tritonclient.grpc import service_pb2

from bench.grpc_inproc import measure, the_bench_run_calls

ZOO = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed fashion_mlp alone (the whole zoo takes long to load)."""
    root = tmp_path_factory.mktemp("models")
    (root / "fashion_mlp").symlink_to(ZOO / "fashion_mlp")
    return root


def test_the_cost_per_call_is_measured_for_each_message_and_client_count(models: Path):
    messages = the_bench_run_calls()

    results = asyncio.run(measure(models, messages, [1, 3], rounds=1, calls=12))

    assert set(results) == {"fp32 c=1", "fp32 c=3", "png c=1", "png c=3"}
    assert all(0 < value < 100_000 for value in results.values())


def test_a_call_the_service_refuses_fails_the_measurement(models: Path):
    unknown = service_pb2.ModelInferRequest.FromString(the_bench_run_calls()["fp32"])
    unknown.model_name = "no_such_model"

    with pytest.raises(RuntimeError, match="NOT_FOUND"):
        asyncio.run(measure(models, {"x": unknown.SerializeToString()}, [1], rounds=1, calls=2))
