"""The bulk rows: 64 images per request in both wire formats, judged against the model alone."""

import base64
import json
from pathlib import Path

from bench import bulk, run
from service.protocols import kserve_v2, v2_bytes
from tests.utils.bench import point


def test_both_bodies_carry_the_same_64_pngs(tmp_path: Path) -> None:
    targets = bulk.targets(run.DATA, tmp_path)
    assert sorted(targets) == sorted(bulk.SCENARIOS)
    for model in bulk.MODELS:
        pngs = bulk.pngs_of(model, run.DATA)
        assert len(pngs) == bulk.IMAGES and all(png.startswith(b"\x89PNG") for png in pngs)
        document = json.loads(targets[f"bulk_json_{model.name}"].body.read_bytes())  # type: ignore[union-attr]
        assert [base64.b64decode(item["b64"]) for item in document["images"]] == pngs
        v2 = targets[f"bulk_v2_{model.name}"]
        assert v2.path == f"/v2/models/{model.name}/versions/{model.version}/infer"
        header = v2.header.removeprefix("Inference-Header-Content-Length: ")
        request, tail = kserve_v2.parse_request(v2.body.read_bytes(), header)  # type: ignore[union-attr]
        assert v2_bytes.image_elements(request.inputs[0], tail) == pngs
    assert len(set(bulk.digit_pngs())) > 50  # distinct digits, not one image 64 times


def test_our_servers_run_every_bulk_scenario_at_concurrency_4(tmp_path: Path) -> None:
    options = run.Options(3, 1, [1], [1], ["kerasserve"], [1], tmp_path, scenarios=["bulk"])
    spec = run.specs(options, tmp_path)[0]
    assert run.plan(spec, options) == [(scenario, 4) for scenario in bulk.SCENARIOS]
    assert all(run.CLASSIFIERS[scenario] for scenario in bulk.SCENARIOS)


def _bulk_run(shares: dict[str, float], two_workers: float) -> list[dict[str, object]]:
    """One worker with the model alone at 2,000 images/s; two workers at 1,000."""
    points = []
    for model in bulk.MODELS:
        for kind in bulk.FORMATS:
            scenario = f"bulk_{kind}_{model.name}"
            share = shares[f"{model.name} {kind}"]
            for server, alone, factor in (
                ("kerasserve", 2000, 1.0),
                ("kerasserve-2w", 1000, two_workers),
            ):
                served = point(server, 4, alone * share * factor / 64, 10, 20, scenario=scenario)
                points.append({**served, "alone_images_per_s": alone})
    return points


def test_the_floors_judge_shares_of_the_model_alone_at_each_point() -> None:
    shares = {"mnist_lenet json": 0.55, "mnist_lenet v2": 0.59, "fashion_cnn json": 0.9,
              "fashion_cnn v2": 0.95}  # fmt: skip
    text = bulk.section(_bulk_run(shares, 0.99), ["kerasserve", "kerasserve-2w"])
    assert "| mnist_lenet/3 | json | 1,100 / 2,000 (55%) | 544 / 1,000 (54%) |" in text
    assert "- met: mnist_lenet json: one worker >= 50% of the model alone" in text
    assert "- NOT met: mnist_lenet v2: one worker >= 60% of the model alone" in text
    assert "- met: fashion_cnn json: one worker >= 90%" in text
    assert text.count("- NOT met: ") == 1 + 4  # v2 share, and 2 workers 1% lower each time
    assert "kerasserve-2w no slower than one worker (54% vs 55% of the model alone)" in text
    level = bulk.section(_bulk_run(shares, 1.0), ["kerasserve", "kerasserve-2w"])
    assert level.count("- NOT met: ") == 1 and level.count("no slower than one worker (") == 4


def test_no_bulk_points_no_section_and_no_model_alone_is_not_measured() -> None:
    assert bulk.section([point("kerasserve", 64, 100, 1, 2)], ["kerasserve"]) == ""
    shares = {f"{name} {kind}": 1.0 for name, kind in bulk.FLOORS}
    points = [{**p, "alone_images_per_s": 0.0} for p in _bulk_run(shares, 1.0)]
    text = bulk.section(points, ["kerasserve"])
    assert text.count("- not measured: ") == 4
    assert "| mnist_lenet/3 | json | 2,000 / - |" in text


def test_the_models_own_input_is_the_digits_in_0_1() -> None:
    batch = bulk.prepared_batch(bulk.MODELS[0], run.DATA)
    assert batch.shape == (64, 28, 28, 1) and batch.dtype.name == "float32"
    assert batch.min() == 0.0 and batch.max() == 1.0
