"""Every setting of the service in one place, read from `KERASSERVE_*` variables.

One `Settings` object is built at start-up (or by tests with keyword overrides) and
validated as a whole, so a typo in the environment stops the process with a readable
message instead of surfacing later as a strange 500. The runtime's fields are
`RuntimeSettings`' (`service.runtime.settings`), which `Settings` inherits; the runtime
gets them back, frozen, from `runtime_settings()`.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.card import Task
from service.runtime.settings import PositiveInt, RuntimeSettings

TASKS: tuple[str, ...] = get_args(Task)


class Settings(BaseSettings, RuntimeSettings):
    """Service settings; each field maps to `KERASSERVE_<FIELD>` in the environment.

    The runtime's fields (where models are, batching, TensorFlow's pools) are
    inherited from `RuntimeSettings`, defined and validated there; the rest are the
    HTTP server's, the request limits and security.
    """

    # No JSON decoding of variables: lists come as `a,b,c`, which the fields' own
    # validators split (and `pinned_versions` parses its JSON itself).
    model_config = SettingsConfigDict(
        env_prefix="KERASSERVE_",
        extra="forbid",
        validate_default=True,
        frozen=False,
        enable_decoding=False,
    )

    default_models: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

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
    max_waiting_requests: PositiveInt = 8192
    admission_timeout_s: float = Field(default=5.0, gt=0)
    # Connections read from at once (per process); the others keep their next request
    # unread in the kernel until one of these is answered (`service.server.read_gate`).
    # While any wait there, every answer swaps one in (a pause and a resume: up to a
    # fifth of the CPU per answer at 5,000 clients, by run); a waiting request is a
    # small record, so reading as many connections as can wait in line is the default.
    max_reading_connections: PositiveInt = 8192

    # The gRPC server (KServe V2, TF Serving, health, reflection) in the same process;
    # 0 turns it off. Its message limit must take what the HTTP body limit takes.
    grpc_port: int = Field(default=8500, ge=0, le=65535)
    grpc_max_message_bytes: PositiveInt = 64 * 1024 * 1024

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

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        """Accept `a,b,c` from the environment as well as real sequences."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("batch_sizes", mode="before")
    @classmethod
    def _sort_batch_sizes(cls, value: Any) -> Any:
        """`8,1,4,8` -> (1, 4, 8): the service takes the sizes in any order."""
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        try:
            return tuple(sorted({int(size) for size in value}))
        except (TypeError, ValueError):
            return value  # for the field's own message

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

    @field_validator("models_dir")
    @classmethod
    def _check_models_dir(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"models directory {str(value)!r} does not exist")
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None  # An empty variable means "no key", not "the empty key".
        return value

    @model_validator(mode="after")
    def _check_limits(self) -> Self:
        if self.default_top_k > self.max_top_k:
            raise ValueError("default_top_k must not exceed max_top_k")
        if self.grpc_port and self.grpc_max_message_bytes < self.max_body_bytes:
            raise ValueError(
                f"grpc_max_message_bytes ({self.grpc_max_message_bytes}) is below "
                f"max_body_bytes ({self.max_body_bytes}): gRPC would refuse what REST takes"
            )
        return self

    def runtime_settings(self) -> RuntimeSettings:
        """The runtime's part of these settings, already validated (no second pass),
        with TensorFlow's pools (0 = auto) resolved to this process's share of the CPUs."""
        values = {name: getattr(self, name) for name in RuntimeSettings.model_fields}
        values["intra_op_threads"] = self.intra_op_threads or cpus_per_worker(self.workers)
        values["inter_op_threads"] = self.inter_op_threads or cpus_per_worker(self.workers)
        return RuntimeSettings.model_construct(**values)


def cpus_per_worker(workers: int) -> int:
    """This process's share of the CPUs it may run on (its affinity, so a container's
    cpuset counts), at least one."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
