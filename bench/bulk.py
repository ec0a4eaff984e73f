"""Bulk requests: 64 PNG images per request, served images/s beside the model's own.

People classifying a folder send many images per request. Each bulk scenario posts 64
images of 28x28 to one model, at concurrency 4, in two wire formats:

- `json`: `{"images": [{"b64": ...}] x 64}` to `/v1/classify`;
- `v2`: a KServe V2 request with a BYTES input [64, 1] in Triton's binary extension
  (`Inference-Header-Content-Length`) to `/v2/models/<name>/versions/<v>/infer`.

Just before each bulk point (after its warm-up, our server idle), `apps/raw_classifier.py`
measures the same SavedModel's signature alone, in one process, at batch 64 on the same
images already prepared: the model's own images/s at that moment. The served images/s
over it is what the floors judge: whatever else runs on the cores moves both, and
absolute figures from a shared machine say little.
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


def model_of(scenario: str) -> BulkModel:
    return next(model for model in MODELS if CLASSIFIERS[scenario] == model.name)


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


def _found(points: Sequence[Point], server: str, scenario: str) -> Point | None:
    rows = [p for p in points if p["server"] == server and p["scenario"] == scenario]
    return rows[0] if rows and not rows[0]["note"] else None


def section(points: Sequence[Point], ours: Sequence[str]) -> str:
    """The bulk table and its floors; empty when no bulk point was measured."""
    if not any(p["scenario"] in CLASSIFIERS for p in points):
        return ""
    head = "| model | format | " + " | ".join(f"{s}: served / alone images/s" for s in ours)
    lines = [head + " |", "|---|---|" + "---|" * len(ours)]
    verdicts = []
    for model in MODELS:
        for kind in FORMATS:
            found = [_found(points, server, f"bulk_{kind}_{model.name}") for server in ours]
            cells = " | ".join(_cell(p) for p in found)
            lines.append(f"| {model.name}/{model.version} | {kind} | {cells} |")
            verdicts.append(_floor(model.name, kind, found, list(ours)))
    text = "\n".join(lines)
    return (
        f"### Bulk: {IMAGES} images per request, c={CONCURRENCY}\n\n{BULK_KEY}\n\n{text}\n\n"
        + "\n".join(verdicts)
    )


def _served(p: Point) -> float:
    return float(p["rps"]) * IMAGES


def _share(p: Point) -> float | None:
    alone = float(p.get("alone_images_per_s") or 0.0)
    return _served(p) / alone if alone else None


def _cell(p: Point | None) -> str:
    if p is None:
        return "-"
    share = _share(p)
    if share is None:
        return f"{_served(p):,.0f} / -"
    return f"{_served(p):,.0f} / {p['alone_images_per_s']:,.0f} ({share:.0%})"


def _floor(name: str, kind: str, found: list[Point | None], ours: list[str]) -> str:
    minimum = FLOORS[(name, kind)]
    what = f"{name} {kind}: one worker >= {minimum:.0%} of the model alone"
    one = found[0] if found else None
    share = _share(one) if one else None
    if one is None or share is None:
        lines = [f"- not measured: {what}"]
    else:
        verdict = "met" if share >= minimum else "NOT met"
        lines = [f"- {verdict}: {what} ({_cell(one)})"]
    for server, other in zip(ours[1:], found[1:], strict=True):
        # Shares, not images/s: each point has its own moment's model-alone figure.
        more = f"{name} {kind}: {server} no slower than one worker"
        mine = _share(other) if other else None
        if mine is None or share is None:
            lines.append(f"- not measured: {more}")
        else:
            verdict = "met" if mine >= share else "NOT met"
            lines.append(f"- {verdict}: {more} ({mine:.0%} vs {share:.0%} of the model alone)")
    return "\n".join(lines)


BULK_KEY = (
    f"Images per second served, {IMAGES} PNGs of 28x28 per request (`json`: "
    '`{"images": [{"b64": ...}]}` to `/v1/classify`; `v2`: a KServe V2 BYTES input in '
    "the binary extension), then the same SavedModel's own images/s at batch "
    f"{IMAGES}, measured alone in one process just before the point "
    "(`bench/apps/raw_classifier.py`), and in brackets the share the floors judge."
)
