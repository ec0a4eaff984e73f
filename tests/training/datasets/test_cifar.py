"""CIFAR-10/100 from archives the tests write in the canonical format; no network."""

import hashlib
import io
import pickle
import subprocess
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.utils.cifar_archive import (
    canonical_pixels,
    py2_pickle,
    random_cifar,
    synthetic_cifar100,
    write_cifar10,
)
from training.datasets import DatasetUnavailableError, cifar, load_image_dataset
from training.datasets.cifar import read_cifar_archive


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASSERVE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def unreachable(monkeypatch):
    """The canonical host cannot be reached, as from this machine."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(subprocess, "run", None)


@pytest.fixture
def cifar100_dir(tmp_path):
    """300 training images (3 a class) and 100 test images, coarse label = fine // 5."""
    return synthetic_cifar100(tmp_path / "download").parent


def test_the_written_archive_is_python2_pickles_of_chw_rows(tmp_path):
    images = np.zeros((10, 32, 32, 3), np.uint8)
    images[..., 0], images[..., 1], images[..., 2] = 10, 20, 30
    rows = canonical_pixels(images)
    assert rows.shape == (10, 3072) and rows.dtype == np.uint8
    assert set(rows[0, :1024]) == {10} and set(rows[0, 1024:2048]) == {20}
    path = write_cifar10(tmp_path, (images, np.arange(10)), (images, np.arange(10)))
    with tarfile.open(path) as tar:
        member = tar.extractfile("cifar-10-batches-py/data_batch_1")
        assert member is not None
        raw = member.read()
    assert raw.startswith(b"\x80\x02")  # cPickle protocol 2
    assert b"U\x04data" in raw and b"U\x06labels" in raw  # keys as Python 2 str
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw


def test_cifar10_reader_returns_hwc_images_and_the_official_split(tmp_path):
    rng = np.random.default_rng(0)
    train, test = random_cifar(rng, 50, 10), random_cifar(rng, 20, 10)
    arrays = read_cifar_archive(write_cifar10(tmp_path, train, test), "cifar10")
    assert set(arrays) == {"x_train", "y_train", "x_test", "y_test"}
    assert arrays["x_train"].shape == (50, 32, 32, 3) and arrays["x_train"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["x_train"], train[0])  # all five batches, in order
    np.testing.assert_array_equal(arrays["y_test"], test[1])


def test_cifar100_fine_and_coarse_labels_share_one_split(cifar100_dir, unreachable):
    fine = load_image_dataset("cifar100", local_dir=cifar100_dir)
    coarse = load_image_dataset("cifar100", local_dir=cifar100_dir, label_mode="coarse")
    assert fine.source == f"local:{cifar100_dir / 'cifar-100-python.tar.gz'}"
    assert fine.label_mode == "fine" and coarse.label_mode == "coarse"
    assert fine.num_classes == 100 and coarse.num_classes == 20
    assert fine.labels[:3] == ("apple", "aquarium_fish", "baby")
    assert coarse.labels[-1] == "vehicles_2"
    assert fine.image_shape == (32, 32, 3)
    assert fine.split["kind"] == "official+stratified-validation"
    assert fine.split["sizes"] == {"train": 275, "validation": 25, "test": 100}
    np.testing.assert_array_equal(fine.x_val, coarse.x_val)
    np.testing.assert_array_equal(coarse.y_train, fine.y_train // 5)
    np.testing.assert_array_equal(coarse.y_test, fine.y_test // 5)


def test_the_keras_source_checks_the_published_sha256(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    path = write_cifar10(tmp_path / "bucket", random_cifar(rng, 60, 10), random_cifar(rng, 20, 10))
    monkeypatch.setattr(cifar, "CIFAR_BASE_URL", path.parent.as_uri())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(cifar.ARCHIVE_SHA256, "cifar10", digest)
    dataset = load_image_dataset("cifar10", sources=["keras"])
    assert dataset.source == f"keras:{path.as_uri()}"
    assert dataset.labels == cifar.CIFAR10_LABELS and len(dataset.y_test) == 20
    monkeypatch.setitem(cifar.ARCHIVE_SHA256, "cifar10", "0" * 64)
    with pytest.raises(DatasetUnavailableError, match="sha256"):
        load_image_dataset("cifar10", sources=["keras"], cache_dir=tmp_path / "other")


def test_unreachable_host_fails_over_with_the_remedy(unreachable):
    with pytest.raises(DatasetUnavailableError) as caught:
        load_image_dataset("cifar100")
    message = str(caught.value)
    for expected in (
        "keras: URLError",
        "npm: no npm mirror of cifar100",
        "local: no local_dir",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "--data-dir",
    ):
        assert expected in message


def test_second_load_reads_only_the_cache(cifar100_dir, private_cache, unreachable):
    first = load_image_dataset("cifar100", local_dir=cifar100_dir)
    cifar100_dir.joinpath("cifar-100-python.tar.gz").unlink()
    second = load_image_dataset("cifar100", label_mode="coarse")
    assert second.source == first.source and second.checksum == first.checksum
    assert (private_cache / "datasets" / "cifar100.npz").is_file()
    np.testing.assert_array_equal(second.x_test, first.x_test)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in (
            ("batches.meta", pickle.dumps(Exploit(), protocol=2)),
            ("data_batch_1", py2_pickle({"data": np.zeros((1, 3072), np.uint8), "labels": [0]})),
        ):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(ValueError, match=r"refusing .*print"):
        read_cifar_archive(path, "cifar10")


def test_foreign_archives_are_rejected(tmp_path):
    rng = np.random.default_rng(2)
    path = write_cifar10(tmp_path, random_cifar(rng, 10, 10), random_cifar(rng, 10, 10))
    with pytest.raises(ValueError, match="lacks"):
        read_cifar_archive(path, "cifar100")


def test_label_mode_is_for_cifar100_only():
    with pytest.raises(ValueError, match="cifar100 only"):
        load_image_dataset("mnist", label_mode="coarse")
