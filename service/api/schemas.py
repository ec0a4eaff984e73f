"""Request and response bodies of the service's own endpoints (not the protocol ones).

The models double as the OpenAPI documentation, so each carries an example. The TF
Serving and KServe V2 shapes live next to their codecs in `service/protocols/`.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class LabelScore(BaseModel):
    label: str
    index: int
    score: float


class ClassifyResult(BaseModel):
    filename: str | None = Field(default=None, description="Multipart uploads only.")
    inverted: bool = Field(description="True when the image's shades were inverted.")
    top_k: list[LabelScore]
    input_png_base64: str | None = Field(
        default=None,
        description="With return_input=true: the image the model was given, as a PNG at "
        "its input size and colour.",
    )


class ClassifyResponse(BaseModel):
    """One result per image; a raw (non-multipart) body also gets `top_k`/`inverted`."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "model": "fashion_mnist_cnn",
                "version": 1,
                "results": [
                    {"inverted": True, "top_k": [{"label": "Sneaker", "index": 7, "score": 0.93}]}
                ],
                "inverted": True,
                "top_k": [{"label": "Sneaker", "index": 7, "score": 0.93}],
            }
        }
    )

    model: str
    version: int
    results: list[ClassifyResult]
    top_k: list[LabelScore] | None = Field(
        default=None, description="Copy of results[0].top_k, for a single raw image body."
    )
    inverted: bool | None = Field(
        default=None, description="Copy of results[0].inverted, for a single raw image body."
    )


class SequenceRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"model": "airline_lstm", "series": [112.0, 118.0, 132.0], "horizon": 3}
        },
    )

    model: str | None = Field(
        default=None, description="Required unless exactly one forecast model is loaded."
    )
    version: int | None = Field(default=None, ge=1)
    series: list[FiniteFloat] = Field(
        min_length=1, description="Observations, oldest first; the last `window` are used."
    )
    horizon: int | None = Field(
        default=None,
        ge=1,
        description="Steps ahead; defaults to the model's horizon. Longer horizons are "
        "forecast recursively (forecasts fed back as inputs) up to the server's max_horizon.",
    )


class SequenceResponse(BaseModel):
    model: str
    version: int
    window: int = Field(description="How many trailing values of the series the model reads.")
    horizon: int = Field(description="How many values were forecast.")
    model_horizon: int = Field(description="How many values one model call forecasts.")
    recursive: bool = Field(description="True when horizon > model_horizon.")
    forecast: list[float]


class GeneratedImage(BaseModel):
    label: int
    png_base64: str


class GenerateResponse(BaseModel):
    model: str
    version: int
    seed: int = Field(description="Send it back to get the same images again.")
    images: list[GeneratedImage]


class ModelEntry(BaseModel):
    name: str
    version: int
    state: str
    device: str | None
    runtime: str | None = Field(
        default=None, description="What runs the graph: tensorflow, or litert when the card asks"
    )
    runtime_note: str | None = Field(
        default=None, description="Why the card's runtime was not used, when it was not"
    )
    error: str | None
    load_seconds: float | None
    card: dict[str, Any] | None


class ModelList(BaseModel):
    models: list[ModelEntry]
    defaults: dict[str, str] = Field(
        default_factory=dict,
        description="The model each task uses when a request names none.",
    )
    rollouts: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Each model's versions.json: in force or refused (and why), version "
        "labels and the versions they reach now (pending: none yet), the traffic split in "
        "percent per version, the shadow and its agreement rate.",
    )


class HealthResponse(BaseModel):
    status: Literal["ok", "ready"]


class ReadinessResponse(BaseModel):
    status: Literal["ready"]
    models: dict[str, list[int]] = Field(description="Available versions of each model.")
