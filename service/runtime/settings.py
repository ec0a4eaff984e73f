"""Runtime settings: how models are found, placed, batched and reloaded.

Defined and validated here, once. The service's `Settings` (`service.config`) is these
fields plus the HTTP ones: it inherits them, so `KERASSERVE_MAX_BATCH_SIZE` and its
flag fill this field, and the runtime gets them back as a frozen `RuntimeSettings`
without a second validation. Plain pydantic: the runtime imports no web framework and
no settings loader.
"""

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

VersionPolicy = Literal["latest", "all", "specific"]
PositiveInt = Annotated[int, Field(ge=1)]

_DEVICE = re.compile(r"^(auto|cpu|gpu|/(CPU|GPU):\d+)$", re.IGNORECASE)


class RuntimeSettings(BaseModel):
    """How models are found, placed, batched and reloaded.

    ``required_models`` must each have an AVAILABLE version before the repository is
    ready (strict deployments); otherwise one AVAILABLE version of anything is enough.
    ``version_policy="specific"`` serves ``pinned_versions[name]``; a model without
    pins falls back to its latest version. ``batch_sizes`` are the padded batch
    shapes the model is warmed up with; a batch larger than the last one runs unpadded.
    Sequences may be given as `a,b,c` and mappings as JSON text (the environment).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    # Where the models are and which of them to serve.
    models_dir: Path = Path("models")
    model_names: tuple[str, ...] | None = None
    required_models: tuple[str, ...] = ()
    version_policy: VersionPolicy = "latest"
    pinned_versions: dict[str, tuple[PositiveInt, ...]] = Field(default_factory=dict)
    poll_interval_s: float = Field(default=5.0, ge=0)
    device: str = "auto"

    # Dynamic batching.
    max_batch_size: PositiveInt = 64
    max_queue_delay_s: float = Field(default=0.002, ge=0)
    max_queue_size: PositiveInt = 1024
    batch_sizes: tuple[PositiveInt, ...] = (1, 2, 4, 8, 16, 32, 64)
    request_timeout_s: float = Field(default=30.0, gt=0)
    inference_threads: PositiveInt = 1
    # TensorFlow's thread pools per process; 0 = TensorFlow's own choice (the service
    # settings read 0 as this process's share of the CPUs).
    intra_op_threads: int = Field(default=0, ge=0)
    inter_op_threads: int = Field(default=0, ge=0)
    idle_inline_max_s: float = Field(default=0.0005, ge=0)
    inline_batch_max_s: float = Field(default=0.001, ge=0)
    # Primary calls waiting for or in a shadow call (versions.json); one more is shed.
    shadow_queue_size: PositiveInt = 256

    @field_validator("model_names", "required_models", "batch_sizes", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """Accept `a,b,c` as well as real sequences."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("pinned_versions", mode="before")
    @classmethod
    def _parse_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("pinned_versions")
    @classmethod
    def _check_pins(cls, value: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        for name, versions in value.items():
            if not versions:
                raise ValueError(f"pinned_versions[{name!r}] must list positive versions")
        return value

    @field_validator("batch_sizes")
    @classmethod
    def _check_batch_sizes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value:
            raise ValueError("batch_sizes must list at least one size")
        if list(value) != sorted(set(value)):
            raise ValueError(f"batch_sizes must be positive and strictly increasing: {value}")
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("device must be auto, cpu, gpu or a TF device such as /GPU:1")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.version_policy == "specific" and not self.pinned_versions:
            raise ValueError("version_policy 'specific' needs pinned_versions, e.g. {'m': [1]}")
        if self.max_batch_size > self.batch_sizes[-1]:
            raise ValueError(
                f"max_batch_size ({self.max_batch_size}) exceeds the largest padded batch "
                f"size ({self.batch_sizes[-1]}); add it to batch_sizes"
            )
        return self

    def padded_size(self, rows: int) -> int:
        """The warmed-up batch shape ``rows`` is padded to (``rows`` itself past the last)."""
        for size in self.batch_sizes:
            if size >= rows:
                return size
        return rows

    def warmup_sizes(self) -> tuple[int, ...]:
        """Every padded shape a batch of 1..max_batch_size rows can take."""
        return tuple(sorted({self.padded_size(rows) for rows in range(1, self.max_batch_size + 1)}))
