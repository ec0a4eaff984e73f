"""The peers' own virtual environments under ``bench/.venvs/`` (never the service's).

Each peer gets a venv with its package, the same TensorFlow as the service, Pillow
and NumPy. A venv is built once; a ``.ok`` marker holding the requirement list says
the install finished, so an interrupted install is retried rather than half-used, and
a venv built from an older list (say, before a pin) is rebuilt.
"""

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

VENVS = Path(__file__).resolve().parent / ".venvs"
COMMON = ("tensorflow-cpu==2.21.0", "pillow", "numpy")


@dataclass(frozen=True)
class PeerEnv:
    name: str
    packages: tuple[str, ...]

    @property
    def root(self) -> Path:
        return VENVS / self.name

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def requirements(self) -> tuple[str, ...]:
        return (*self.packages, *COMMON)

    @property
    def ready(self) -> bool:
        marker = self.root / ".ok"
        return marker.exists() and marker.read_text().splitlines() == list(self.requirements)


ENVS = {
    "litserve": PeerEnv("litserve", ("litserve", "python-multipart")),
    # NumPy 1: PyTriton 0.7.0 declares numpy<2 itself; pinned here so no resolution
    # (an older PyTriton, a newer TensorFlow) can pair it with NumPy 2.
    "pytriton": PeerEnv("pytriton", ("nvidia-pytriton", "numpy<2")),
    "rayserve": PeerEnv("rayserve", ("ray[serve]",)),
    "bentoml": PeerEnv("bentoml", ("bentoml",)),
}


def ensure(env: PeerEnv, log_dir: Path) -> bool:
    """Create ``env`` if needed; False (with the pip log kept) when it cannot install."""
    if env.ready:
        return True
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"install-{env.name}.log"
    logger.info("installing %s into %s (log: %s)", env.name, env.root, log_path)
    with log_path.open("w") as log:
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(env.root)],
            [str(env.python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
            [str(env.python), "-m", "pip", "install", *env.requirements],
        ]
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                logger.warning("%s did not install; see %s", env.name, log_path)
                return False
    (env.root / ".ok").write_text("\n".join(env.requirements) + "\n")
    return True


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    names = sys.argv[1:] or list(ENVS)
    results = [ensure(ENVS[name], VENVS / "logs") for name in names]  # try every one
    sys.exit(0 if all(results) else 1)
