"""Settings: environment parsing, fail-fast validation, the runtime subset."""

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings


def test_environment_variables_with_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASSERVE_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("KERASSERVE_PORT", "9001")
    monkeypatch.setenv("KERASSERVE_MODEL_NAMES", "a, b")
    monkeypatch.setenv("KERASSERVE_CORS_ORIGINS", "https://x.example,https://y.example")
    monkeypatch.setenv("KERASSERVE_BATCH_SIZES", "8,1,4,8")
    monkeypatch.setenv("KERASSERVE_MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("KERASSERVE_PINNED_VERSIONS", '{"a": [1, 2]}')
    monkeypatch.setenv("KERASSERVE_VERSION_POLICY", "specific")
    monkeypatch.setenv("KERASSERVE_LOG_LEVEL", "debug")
    monkeypatch.setenv("KERASSERVE_API_KEY", "")
    settings = Settings()
    assert settings.port == 9001
    assert settings.model_names == ("a", "b")
    assert settings.cors_origins == ("https://x.example", "https://y.example")
    assert settings.batch_sizes == (1, 4, 8)
    assert settings.pinned_versions == {"a": (1, 2)}
    assert settings.log_level == "DEBUG"
    assert settings.api_key is None


def test_runtime_settings_carry_every_runtime_field(tmp_path):
    settings = Settings(
        models_dir=tmp_path,
        version_policy="all",
        device="/GPU:1",
        max_batch_size=16,
        batch_sizes=(1, 16),
        max_queue_delay_s=0.01,
        request_timeout_s=3,
        poll_interval_s=0,
    )
    runtime = settings.runtime_settings()
    assert runtime.models_dir == tmp_path and runtime.version_policy == "all"
    assert runtime.device == "/GPU:1" and runtime.max_batch_size == 16
    assert runtime.batch_sizes == (1, 16) and runtime.max_queue_delay_s == 0.01
    assert runtime.request_timeout_s == 3 and runtime.poll_interval_s == 0


def test_tensorflow_pools_are_shared_out_among_workers(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))
    one = Settings(models_dir=tmp_path).runtime_settings()
    assert (one.intra_op_threads, one.inter_op_threads) == (cpus, cpus)
    many = Settings(models_dir=tmp_path, workers=4 * cpus).runtime_settings()
    assert (many.intra_op_threads, many.inter_op_threads) == (1, 1)
    chosen = Settings(models_dir=tmp_path, workers=2, intra_op_threads=3, inter_op_threads=5)
    runtime = chosen.runtime_settings()
    assert (runtime.intra_op_threads, runtime.inter_op_threads) == (3, 5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"models_dir": Path("/no/such/dir")}, "does not exist"),
        ({"device": "tpu"}, "device must be"),
        ({"version_policy": "specific"}, "needs pinned_versions"),
        ({"max_batch_size": 128}, "exceeds the largest padded batch size"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"log_format": "xml"}, "json"),
        ({"max_queue_delay_s": -1}, "greater than or equal to 0"),
        ({"unknown_knob": 1}, "Extra inputs are not permitted"),
        ({"default_top_k": 50, "max_top_k": 10}, "default_top_k"),
    ],
)
def test_bad_settings_fail_with_a_clear_message(tmp_path, overrides, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**{"models_dir": tmp_path, **overrides})


def test_runtime_fields_are_defined_once_and_reach_the_runtime(monkeypatch, tmp_path):
    from service.runtime.settings import RuntimeSettings

    assert issubclass(Settings, RuntimeSettings)
    monkeypatch.setenv("KERASSERVE_MAX_QUEUE_SIZE", "7")
    monkeypatch.setenv("KERASSERVE_REQUIRED_MODELS", "a,b")
    runtime = Settings(models_dir=tmp_path).runtime_settings()
    assert type(runtime) is RuntimeSettings
    assert runtime.max_queue_size == 7 and runtime.required_models == ("a", "b")
