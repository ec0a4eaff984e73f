"""Runtime settings: plain values, built by the HTTP side's pydantic ``Settings``."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

VersionPolicy = Literal["latest", "all", "specific"]


@dataclass(frozen=True)
class RuntimeSettings:
    """How models are found, placed, batched and reloaded.

    ``required_models`` must each have an AVAILABLE version before the repository is
    ready (strict deployments); otherwise one AVAILABLE version of anything is enough.
    ``version_policy="specific"`` serves ``pinned_versions[name]``; a model without
    pins falls back to its latest version. ``batch_sizes`` are the padded batch
    shapes the model is warmed up with; a batch larger than the last one runs unpadded.
    """

    models_dir: Path
    version_policy: VersionPolicy = "latest"
    pinned_versions: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    model_names: tuple[str, ...] | None = None
    required_models: tuple[str, ...] = ()
    poll_interval_s: float = 5.0
    device: str = "auto"
    max_batch_size: int = 64
    max_queue_delay_s: float = 0.002
    max_queue_size: int = 1024
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    request_timeout_s: float = 30.0
    inference_threads: int = 1
    idle_inline_max_s: float = 0.0005
    intra_op_threads: int = 0  # TensorFlow's pools; 0 leaves TensorFlow's own choice
    inter_op_threads: int = 0

    def __post_init__(self) -> None:
        if self.version_policy not in ("latest", "all", "specific"):
            policy = self.version_policy
            raise ValueError(f"version_policy must be latest, all or specific, not {policy!r}")
        for name in ("max_batch_size", "max_queue_size", "inference_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in (
            "max_queue_delay_s",
            "poll_interval_s",
            "idle_inline_max_s",
            "intra_op_threads",
            "inter_op_threads",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.request_timeout_s <= 0:
            raise ValueError("request_timeout_s must be positive")
        sizes = self.batch_sizes
        if any(size < 1 for size in sizes) or list(sizes) != sorted(set(sizes)):
            raise ValueError(f"batch_sizes must be positive and strictly increasing: {sizes}")
        for name, versions in self.pinned_versions.items():
            if not versions or any(version < 1 for version in versions):
                raise ValueError(f"pinned_versions[{name!r}] must list positive versions")

    def padded_size(self, rows: int) -> int:
        """The warmed-up batch shape ``rows`` is padded to (``rows`` itself past the last)."""
        for size in self.batch_sizes:
            if size >= rows:
                return size
        return rows

    def warmup_sizes(self) -> tuple[int, ...]:
        """Every padded shape a batch of 1..max_batch_size rows can take."""
        return tuple(sorted({self.padded_size(rows) for rows in range(1, self.max_batch_size + 1)}))
