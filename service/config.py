"""Every setting of the service in one place, read from `KERASSERVE_*` variables.

One `Settings` object is built at start-up (or by tests with keyword overrides) and
validated as a whole, so a typo in the environment stops the process with a readable
message instead of surfacing later as a strange 500. The runtime half of the service
gets its own frozen `RuntimeSettings`, built here by `runtime_settings()`.
"""

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.runtime.settings import RuntimeSettings

TASKS = ("classify", "predict", "forecast", "generate")

_DEVICE = re.compile(r"^(auto|cpu|gpu|/(CPU|GPU):\d+)$", re.IGNORECASE)

PositiveInt = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """Service settings; each field maps to `KERASSERVE_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="KERASSERVE_", extra="forbid", validate_default=True
    )

    # Where the models are and which of them to serve.
    models_dir: Path = Path("models")
    model_names: Annotated[tuple[str, ...] | None, NoDecode] = None
    required_models: Annotated[tuple[str, ...], NoDecode] = ()
    default_models: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    version_policy: Literal["latest", "all", "specific"] = "latest"
    pinned_versions: dict[str, tuple[PositiveInt, ...]] = Field(default_factory=dict)
    poll_interval_s: float = Field(default=5.0, ge=0)
    device: str = "auto"

    # The HTTP server.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: PositiveInt = 1
    # With several workers: a listening socket per worker (SO_REUSEPORT), so the kernel
    # spreads connections evenly; off, they share one socket and whichever worker is
    # awake takes a burst. A dead worker's socket is closed (the connections queued on
    # it but not yet accepted are reset) and its replacement joins once it listens.
    reuse_port: bool = True
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    drain_timeout_s: float = Field(default=30.0, ge=0)
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    playground: bool = True  # the browser page at GET /
    # Admission (per process): requests worked on at once; more wait, body unread, for
    # at most admission_timeout_s, and beyond max_waiting_requests get 503 at once.
    max_active_requests: PositiveInt = 128
    max_waiting_requests: PositiveInt = 4096
    admission_timeout_s: float = Field(default=5.0, gt=0)

    # Dynamic batching.
    max_batch_size: PositiveInt = 64
    max_queue_delay_s: float = Field(default=0.002, ge=0)
    max_queue_size: PositiveInt = 1024
    batch_sizes: Annotated[tuple[PositiveInt, ...], NoDecode] = (1, 2, 4, 8, 16, 32, 64)
    request_timeout_s: float = Field(default=30.0, gt=0)
    inference_threads: PositiveInt = 1
    # TensorFlow's thread pools per process; 0 = auto: the CPUs this process may run on,
    # shared out among the workers (TensorFlow alone would give every worker all of them).
    intra_op_threads: int = Field(default=0, ge=0)
    inter_op_threads: int = Field(default=0, ge=0)
    idle_inline_max_s: float = Field(default=0.0005, ge=0)

    # Limits on what one request may ask for.
    max_body_bytes: PositiveInt = 10 * 1024 * 1024
    max_image_pixels: PositiveInt = 40_000_000
    max_files_per_request: PositiveInt = 64
    max_series_length: PositiveInt = 100_000
    max_generate_samples: PositiveInt = 64
    max_horizon: PositiveInt = 120
    max_top_k: PositiveInt = 100
    default_top_k: PositiveInt = 5

    # Security.
    api_key: SecretStr | None = None
    protect_health_and_metrics: bool = False

    @field_validator("model_names", "required_models", "cors_origins", "batch_sizes", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """Accept `a,b,c` from the environment as well as real sequences."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("default_models", mode="before")
    @classmethod
    def _split_pairs(cls, value: Any) -> Any:
        """`classify=fashion_cnn,generate=mnist_cgan` from the environment."""
        if not isinstance(value, str):
            return value
        pairs = {}
        for part in (item.strip() for item in value.split(",")):
            if not part:
                continue
            task, sep, name = (side.strip() for side in part.partition("="))
            if not sep or not task or not name:
                raise ValueError(f"default_models takes task=model pairs, got {part!r}")
            pairs[task] = name
        return pairs

    @field_validator("default_models")
    @classmethod
    def _check_default_tasks(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(TASKS))
        if unknown:
            raise ValueError(f"default_models names unknown tasks {unknown}; tasks: {TASKS}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("device must be auto, cpu, gpu or a TF device such as /GPU:1")
        return value

    @field_validator("models_dir")
    @classmethod
    def _check_models_dir(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"models directory {str(value)!r} does not exist")
        return value

    @field_validator("batch_sizes")
    @classmethod
    def _check_batch_sizes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value:
            raise ValueError("batch_sizes must list at least one size")
        return tuple(sorted(set(value)))

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None  # An empty variable means "no key", not "the empty key".
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
        if self.default_top_k > self.max_top_k:
            raise ValueError("default_top_k must not exceed max_top_k")
        return self

    def runtime_settings(self) -> RuntimeSettings:
        """The frozen subset the model runtime needs (it knows nothing of HTTP)."""
        return RuntimeSettings(
            models_dir=self.models_dir,
            version_policy=self.version_policy,
            pinned_versions=dict(self.pinned_versions),
            model_names=self.model_names,
            required_models=self.required_models,
            poll_interval_s=self.poll_interval_s,
            device=self.device,
            max_batch_size=self.max_batch_size,
            max_queue_delay_s=self.max_queue_delay_s,
            max_queue_size=self.max_queue_size,
            batch_sizes=self.batch_sizes,
            request_timeout_s=self.request_timeout_s,
            inference_threads=self.inference_threads,
            idle_inline_max_s=self.idle_inline_max_s,
            intra_op_threads=self.intra_op_threads or cpus_per_worker(self.workers),
            inter_op_threads=self.inter_op_threads or cpus_per_worker(self.workers),
        )


def cpus_per_worker(workers: int) -> int:
    """This process's share of the CPUs it may run on (its affinity, so a container's
    cpuset counts), at least one."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
