"""`inference.GRPCInferenceService`, Triton's KServe V2 service, over the task layer.

Each method decodes its message, calls the resolver and the predict task exactly as
the REST routes do (`service.api.routes.kserve_v2`), and encodes the answer; errors
are raised and answered by `service.rpc.calls` through the error table. ModelReady
answers `ready: false` for a model it cannot serve, as Triton does. ModelStreamInfer
runs each request of the stream as it arrives and answers them as they finish (each
carries its `id`); an error becomes that response's `error_message`, as in Triton,
and the stream goes on.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tritonclient.grpc import service_pb2, service_pb2_grpc

from service.errors import InvalidRequestError, NotReadyError
from service.protocols import kserve_v2, v2_repository
from service.rpc import v2_codec, v2_models
from service.rpc.calls import STILL_ACCEPTING, current_call
from service.rpc.deadline import timeout_of
from service.rpc.status import status_of
from service.runtime.errors import RuntimeServiceError
from service.server.services import Services
from service.tasks.predict import predict
from service.tasks.resolver import ModelResolver


def version_of(text: str) -> int | None:
    """`model_version`: empty for the newest, else a positive number."""
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidRequestError(f"model_version must be a positive integer, not {text!r}")
    return int(text)


class InferenceServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """Thin: message in, resolver and task, message out."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings

    def _resolver(self) -> ModelResolver:
        services = self.services
        return ModelResolver(
            services.repository, STILL_ACCEPTING, current_call(), self.settings.default_models
        )

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802
        return service_pb2.ServerLiveResponse(live=self.services.repository.live)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        ready = self.services.repository.ready and not self.services.lifecycle.stopping
        return service_pb2.ServerReadyResponse(ready=ready)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return service_pb2.ServerMetadataResponse(
            name="kerasserve",
            version=v2_models.server_version(),
            extensions=v2_models.EXTENSIONS,
        )

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            self._resolver().get(request.name, version_of(request.version))
        except (RuntimeServiceError, NotReadyError):
            return service_pb2.ModelReadyResponse(ready=False)
        return service_pb2.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        model = self._resolver().get(request.name, version_of(request.version))
        versions = v2_models.available_versions(self.services.repository, model.name)
        return v2_models.metadata_response(model, versions)

    async def ModelConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        model = self._resolver().get(request.name, version_of(request.version))
        config = v2_models.model_config(model, self.settings)
        return service_pb2.ModelConfigResponse(config=config)

    async def ModelStatistics(self, request: Any, context: Any) -> Any:  # noqa: N802
        repository = self.services.repository
        if request.name:
            model = self._resolver().get(request.name, version_of(request.version))
            versions = [(model.name, model.version)]
        else:
            versions = [
                (s.name, s.version) for s in repository.statuses() if s.state == "AVAILABLE"
            ]
        response = service_pb2.ModelStatisticsResponse()
        for name, version in versions:
            v2_models.model_statistics(response, self.services.metrics, name, version)
        return response

    async def RepositoryIndex(self, request: Any, context: Any) -> Any:  # noqa: N802
        entries = v2_repository.repository_index(self.services.repository.statuses(), request.ready)
        response = service_pb2.RepositoryIndexResponse()
        for entry in entries:
            response.models.add(**entry)
        return response

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        return await self._infer(request, context)

    async def _infer(self, request: Any, context: Any) -> Any:
        version = version_of(request.model_version)
        call = current_call()
        model = self._resolver().get(request.model_name, version, route_key=call.route_key)
        decoded = v2_codec.decode_inputs(request)
        images = kserve_v2.encoded_images(model, decoded, self.settings.max_files_per_request)
        outputs = await predict(
            model,
            decoded.tensors,
            images,
            max_pixels=self.settings.max_image_pixels,
            timeout_s=timeout_of(context, self.settings.request_timeout_s),
            in_company=call.in_company,
        )
        return v2_codec.encode_response(service_pb2.ModelInferResponse(), model, request, outputs)

    async def ModelStreamInfer(  # noqa: N802
        self, requests: AsyncIterator[Any], context: Any
    ) -> AsyncIterator[Any]:
        answers: asyncio.Queue[Any] = asyncio.Queue()
        pending: set[asyncio.Task[None]] = set()

        async def answer(request: Any) -> None:
            try:
                response = await self._infer(request, context)
            except Exception as exc:
                details = status_of(exc, current_call().request_id).details
                failed = service_pb2.ModelInferResponse(id=request.id)
                answers.put_nowait(
                    service_pb2.ModelStreamInferResponse(
                        error_message=details, infer_response=failed
                    )
                )
            else:
                answers.put_nowait(service_pb2.ModelStreamInferResponse(infer_response=response))

        async def read() -> None:
            try:
                async for request in requests:
                    task = asyncio.create_task(answer(request))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                if pending:
                    await asyncio.wait(set(pending))
            finally:
                answers.put_nowait(_END)

        reader = asyncio.create_task(read())
        try:
            while (item := await answers.get()) is not _END:
                yield item
            reader.result()  # a broken request stream ends the call with its error
        finally:
            for task in (reader, *pending):
                task.cancel()


_END = object()
