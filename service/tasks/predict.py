"""Prediction: a client's tensors in, the model's tensors out, for any model.

The task of card-less tensor models, and what the TF Serving and V2 protocols run
for every model: their requests carry either tensors, which go to the model as they
are (checked against its signature), or encoded images, which go through the model's
own preprocessing first (`service.tasks.classify`).
"""

from collections.abc import Mapping, Sequence
from typing import Any

from numpy.typing import NDArray

from service.ports import Model
from service.tasks.classify import image_inputs


async def predict(
    model: Model,
    tensors: Mapping[str, NDArray[Any]],
    images: Sequence[bytes] | None = None,
    *,
    max_pixels: int,
    timeout_s: float | None = None,
    in_company: bool = False,
) -> dict[str, NDArray[Any]]:
    """Every output of the model for ``tensors``, or for ``images`` when given.

    ``timeout_s`` bounds the wait in the batch queue (a gRPC client's deadline); None
    is the service's request timeout. ``in_company``: the caller knows of other calls in
    progress, so the rows queue for a batch instead of running at once on their own.
    """
    if images is None:
        return await model.infer(tensors, timeout_s=timeout_s, in_company=in_company)
    # built from the model's own spec: the checks a client's tensors need do not apply
    inputs = await image_inputs(model, images, max_pixels)
    return await model.infer(inputs, timeout_s=timeout_s, trusted=True, in_company=in_company)
