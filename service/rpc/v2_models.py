"""What the V2 service says about models beyond inference: metadata, Triton's model
configuration and statistics, built from what the service knows (the loaded model's
signature, the batching settings, the runtime's metrics)."""

from importlib import metadata as package_metadata
from typing import Any

from tritonclient.grpc import model_config_pb2, service_pb2

from service.config import Settings
from service.metrics import ServiceMetrics
from service.ports import Model, Repository, TensorSpec
from service.protocols.kserve_v2 import model_metadata, tensor_metadata

EXTENSIONS = ("classification", "model_repository", "statistics", "model_configuration")
PLATFORM = "tensorflow_savedmodel"


def server_version() -> str:
    try:
        return package_metadata.version("kerasserve")
    except package_metadata.PackageNotFoundError:
        return "0.0.0"


def available_versions(repository: Repository, name: str) -> list[int]:
    return sorted(s.version for s in repository.statuses(name) if s.state == "AVAILABLE")


def metadata_response(model: Model, versions: list[int]) -> Any:
    """`ModelMetadataResponse`: the REST metadata document, field for field."""
    document = model_metadata(model, versions)
    response = service_pb2.ModelMetadataResponse(
        name=document["name"], versions=document["versions"], platform=document["platform"]
    )
    for side in ("inputs", "outputs"):
        for tensor in document[side]:
            getattr(response, side).add(**tensor)
    return response


def _config_tensor(entry: Any, name: str, spec: TensorSpec) -> None:
    described = tensor_metadata(name, spec)
    entry.name = name
    datatype = "STRING" if described["datatype"] == "BYTES" else described["datatype"]
    entry.data_type = model_config_pb2.DataType.Value(f"TYPE_{datatype}")
    entry.dims.extend(described["shape"][1:])  # the batch dimension is max_batch_size's


def model_config(model: Model, settings: Settings) -> Any:
    """Triton's `ModelConfig` for a loaded version: tensors without the batch dimension,
    the dynamic batcher's sizes and delay."""
    config = model_config_pb2.ModelConfig(
        name=model.name, platform=PLATFORM, max_batch_size=settings.max_batch_size
    )
    for name, spec in model.inputs.items():
        _config_tensor(config.input.add(), name, spec)
    for name, spec in model.outputs.items():
        _config_tensor(config.output.add(), name, spec)
    config.dynamic_batching.preferred_batch_size.extend(settings.batch_sizes)
    config.dynamic_batching.max_queue_delay_microseconds = round(
        settings.max_queue_delay_s * 1_000_000
    )
    return config


def model_statistics(response: Any, metrics: ServiceMetrics, name: str, version: int) -> None:
    """One `ModelStatistics` entry: rows and batches run, time queued and computing."""
    labels = (name, str(version))
    batches, rows = metrics.batch_size.totals(labels)
    _, compute_s = metrics.inference_latency.totals(labels)
    queued, queue_s = metrics.queue_wait_time.totals(labels)
    stats = response.model_stats.add(name=name, version=str(version))
    stats.inference_count = int(rows)
    stats.execution_count = batches
    stats.inference_stats.success.count = queued
    stats.inference_stats.queue.count = queued
    stats.inference_stats.queue.ns = round(queue_s * 1e9)
    stats.inference_stats.compute_infer.count = batches
    stats.inference_stats.compute_infer.ns = round(compute_s * 1e9)
