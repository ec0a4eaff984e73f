"""Bulk requests: 64 PNG images per request, served images/s beside the model's own.

People classifying a folder send many images per request. Each bulk scenario posts 64
images of 28x28 to one model, at concurrency 4, in two wire formats:

- `json`: `{"images": [{"b64": ...}] x 64}` to `/v1/classify`;
- `v2`: a KServe V2 request with a BYTES input [64, 1] in Triton's binary extension
  (`Inference-Header-Content-Length`) to `/v2/models/<name>/versions/<v>/infer`.

In the same run, `apps/raw_classifier.py` measures the same SavedModel's signature
alone, in one process, at batch 64 on the same images already prepared: the model's
own images/s, once before our servers and once after, since whatever else runs on
the cores moves it. The served images/s over the mean of the two is what the floors
judge; absolute figures from a shared machine say little.
"""

import base64
import gzip
import io
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench import bodies, wrk

IMAGES = 64
CONCURRENCY = 4
RAW_SERVERS = ("raw-model", "raw-model-after")  # measured before and after our servers
ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "tests" / "data" / "idx" / "train-images-idx3-ubyte.gz"


@dataclass(frozen=True)
class BulkModel:
    name: str
    version: int
    source: str  # "digits": 64 MNIST digits; else a PNG file sent 64 times

    @property
    def directory(self) -> Path:
        return ROOT / "models" / self.name / str(self.version)


MODELS = (BulkModel("mnist_lenet", 3, "digits"), BulkModel("fashion_cnn", 2, "fashion.png"))
FORMATS = ("json", "v2")
# scenario -> the model whose batch sizes are read from our /metrics
CLASSIFIERS = {f"bulk_{kind}_{m.name}": m.name for m in MODELS for kind in FORMATS}
SCENARIOS = tuple(CLASSIFIERS)


def raw_scenario(model: BulkModel) -> str:
    return f"raw_{model.name}"


def digit_pngs(count: int = IMAGES) -> list[bytes]:
    """The first `count` MNIST training digits of the test fixtures, each as a PNG."""
    data = gzip.decompress(DIGITS.read_bytes())
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:count]
    pngs = []
    for digit in pixels:
        out = io.BytesIO()
        Image.fromarray(digit, "L").save(out, format="PNG")
        pngs.append(out.getvalue())
    return pngs


def pngs_of(model: BulkModel, data_dir: Path) -> list[bytes]:
    if model.source == "digits":
        return digit_pngs()
    return [(data_dir / model.source).read_bytes()] * IMAGES


def json_body(pngs: list[bytes]) -> bytes:
    images = [{"b64": base64.b64encode(png).decode()} for png in pngs]
    return json.dumps({"images": images}).encode()


def targets(data_dir: Path, scratch: Path) -> dict[str, wrk.Target]:
    """Both wire formats for every bulk model, their bodies written under `scratch`."""
    found: dict[str, wrk.Target] = {}
    for model in MODELS:
        pngs = pngs_of(model, data_dir)
        found[f"bulk_json_{model.name}"] = wrk.Target(
            f"/v1/classify?model={model.name}&version={model.version}",
            bodies.write(scratch / f"bulk-{model.name}.json", json_body(pngs)),
            content_type="application/json",
        )
        body, header = bodies.triton_binary_images(pngs, "image", "probabilities")
        found[f"bulk_v2_{model.name}"] = wrk.Target(
            f"/v2/models/{model.name}/versions/{model.version}/infer",
            bodies.write(scratch / f"bulk-{model.name}.bin", body),
            content_type="application/octet-stream",
            header=f"Inference-Header-Content-Length: {header}",
        )
    return found


def prepared_batch(model: BulkModel, data_dir: Path) -> np.ndarray:
    """The model's input for the bulk images: gray [64, 28, 28, 1] in [0, 1]."""
    pngs = pngs_of(model, data_dir)
    planes = [np.asarray(Image.open(io.BytesIO(png)).convert("L")) for png in pngs]
    return (np.stack(planes).astype(np.float32) / 255.0)[..., None]


def raw_images_per_s(
    python: Path, apps: Path, model: BulkModel, data_dir: Path, scratch: Path, seconds: float
) -> float:
    """The signature alone at batch 64 in one process (`apps/raw_classifier.py`)."""
    batch = scratch / f"batch-{model.name}.npy"
    batch.parent.mkdir(parents=True, exist_ok=True)
    np.save(batch, prepared_batch(model, data_dir))
    argv = [str(python), "raw_classifier.py", str(model.directory), str(batch), str(seconds)]
    done = subprocess.run(argv, cwd=apps, capture_output=True, text=True, timeout=600)
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise RuntimeError(f"raw_classifier failed: {done.stderr[-300:]}") from exc


# (model, format) -> the least share of the model's own images/s one worker serves
FLOORS = {
    ("mnist_lenet", "json"): 0.5,
    ("mnist_lenet", "v2"): 0.6,
    ("fashion_cnn", "json"): 0.9,
    ("fashion_cnn", "v2"): 0.9,
}
Point = dict[str, Any]


def _images_per_s(point: Point | None) -> float | None:
    return None if point is None or point["note"] else point["rps"] * IMAGES


def _served(points: Sequence[Point], server: str, scenario: str) -> float | None:
    found = [p for p in points if p["server"] == server and p["scenario"] == scenario]
    return _images_per_s(found[0]) if found else None


def section(points: Sequence[Point], ours: Sequence[str]) -> str:
    """The bulk table and its floors; empty when no bulk point was measured."""
    if not any(p["scenario"] in CLASSIFIERS for p in points):
        return ""
    head = "| model | format | " + " | ".join(f"{s} images/s (share)" for s in ours)
    lines = [head + " | model alone (before, after) |", "|---|---|" + "---|" * (len(ours) + 1)]
    verdicts = []
    for model in MODELS:
        alone = _alone(points, model)
        for kind in FORMATS:
            scenario = f"bulk_{kind}_{model.name}"
            served = [_served(points, server, scenario) for server in ours]
            cells = [_share(value, alone) for value in served]
            lines.append(
                f"| {model.name}/{model.version} | {kind} | " + " | ".join(cells)
                + f" | {_alone_cell(points, model)} |"
            )  # fmt: skip
            verdicts.append(_floor(model.name, kind, served, alone, list(ours)))
    text = "\n".join(lines)
    return (
        f"### Bulk: {IMAGES} images per request, c={CONCURRENCY}\n\n{BULK_KEY}\n\n{text}\n\n"
        + "\n".join(verdicts)
    )


def _alone(points: Sequence[Point], model: BulkModel) -> float | None:
    """The model's own images/s: the mean of its measurements before and after."""
    found = [_served(points, server, raw_scenario(model)) for server in RAW_SERVERS]
    values = [value for value in found if value]
    return sum(values) / len(values) if values else None


def _alone_cell(points: Sequence[Point], model: BulkModel) -> str:
    found = [_served(points, server, raw_scenario(model)) for server in RAW_SERVERS]
    values = " then ".join(f"{value:,.0f}" for value in found if value)
    return values or "-"


def _share(value: float | None, alone: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} ({value / alone:.0%})" if alone else f"{value:,.0f}"


def _floor(
    name: str, kind: str, served: list[float | None], alone: float | None, ours: list[str]
) -> str:
    minimum = FLOORS[(name, kind)]
    what = f"{name} {kind}: one worker >= {minimum:.0%} of the model alone"
    one = served[0] if served else None
    if one is None or not alone:
        lines = [f"- not measured: {what}"]
    else:
        verdict = "met" if one >= minimum * alone else "NOT met"
        lines = [f"- {verdict}: {what} ({one:,.0f} vs {alone:,.0f} images/s, {one / alone:.0%})"]
    for server, value in zip(ours[1:], served[1:], strict=True):
        more = f"{name} {kind}: {server} no slower than one worker"
        if value is None or one is None:
            lines.append(f"- not measured: {more}")
        else:
            verdict = "met" if value >= one else "NOT met"
            lines.append(f"- {verdict}: {more} ({value:,.0f} vs {one:,.0f} images/s)")
    return "\n".join(lines)


BULK_KEY = (
    f"Images per second served, {IMAGES} PNGs of 28x28 per request (`json`: "
    '`{"images": [{"b64": ...}]}` to `/v1/classify`; `v2`: a KServe V2 BYTES input in '
    "the binary extension), and in brackets their share of the same SavedModel's own "
    f"images/s at batch {IMAGES}, measured alone in one process in the same run, before "
    "and after our servers (`bench/apps/raw_classifier.py`; the share is of their mean)."
)
