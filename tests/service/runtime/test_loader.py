import asyncio
import json
import time

import numpy as np
import pytest

from service.runtime.devices import resolve_device
from service.runtime.loader import LoadError, load_version
from service.runtime.repository import ModelRepository
from service.runtime.tensors import TensorInfo
from service.runtime.warmup import warm_up
from tests.fakes.runtime import fast_settings
from tests.service.runtime.conftest import publish


def test_warm_up_calls_every_padded_size_once_and_checks_rows():
    seen = []

    def predict(inputs):
        seen.append((inputs["noise"].shape, inputs["labels"].dtype))
        return {"images": np.zeros((len(inputs["labels"]), 2))}

    specs = {"noise": TensorInfo("float32", (None, 8)), "labels": TensorInfo("int32", (None,))}
    outputs = {"images": TensorInfo("float32", (None, 2))}
    warm_up(predict, specs, outputs, (1, 4, 8))
    assert seen == [((1, 8), np.int32), ((4, 8), np.int32), ((8, 8), np.int32)]
    with pytest.raises(ValueError, match="rows for a batch of 1"):
        warm_up(lambda inputs: {"images": np.zeros((2, 2))}, specs, outputs, (1,))


def test_load_version_checks_the_signature_and_warms_up(tmp_path, zoo):
    loaded = load_version(zoo["tiny_generator"], "/CPU:0", (1, 2))
    assert loaded.task == "generate" and loaded.device == "/CPU:0"
    assert loaded.inputs["labels"] == TensorInfo("int32", (None,))
    out = loaded.runner({"noise": np.zeros((3, 8), np.float32), "labels": np.zeros(3, np.int32)})
    assert out["images"].shape == (3, 28, 28, 1)

    version = publish(zoo["tiny_forecaster"], tmp_path, "tiny_forecaster", 1)
    card = json.loads((version / "model_card.json").read_text())
    card["outputs"]["prediction"] = card["outputs"].pop("forecast")
    (version / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(
        LoadError, match="outputs are \\['forecast'\\], card says \\['prediction'\\]"
    ):
        load_version(version, "/CPU:0", (1,))


def test_device_settings_resolve_or_fail_fast():
    assert resolve_device("cpu") == "/CPU:0"
    assert resolve_device("auto") in ("/CPU:0", "/GPU:0")
    for bad in ("/GPU:99", "tpu", "/CPU:1"):
        with pytest.raises(ValueError, match="device"):
            resolve_device(bad)


def test_background_poll_picks_up_a_new_version(tmp_path, zoo):
    publish(zoo["tiny_forecaster"], tmp_path, "tiny_forecaster", 1)
    settings = fast_settings(models_dir=tmp_path, poll_interval_s=0.05)

    async def main():
        repository = ModelRepository(settings, retire_grace_s=0)
        await repository.start()
        publish(zoo["tiny_forecaster"], tmp_path, "tiny_forecaster", 2)
        deadline = time.monotonic() + 60  # only against a hang: a load can take seconds
        while time.monotonic() < deadline:
            if repository.get("tiny_forecaster").version == 2:
                break
            await asyncio.sleep(0.02)
        version = repository.get("tiny_forecaster").version
        await repository.stop(drain_timeout_s=1)
        return version

    assert asyncio.run(main()) == 2
