"""`ShadowedModel`: the primary model, whose every call is repeated on the shadow version.

The resolver hands one out for the share of requests versions.json shadows. Every
task calls `infer` as it would the primary; once the primary's outputs are in hand,
the same input tensors are handed to the runtime's `ShadowRunner` (a task of its own,
bounded, compared per row) and the primary's outputs are returned untouched. Input
tensors the primary's own preprocessing built are trusted by the shadow only when its
inputs have the same names, dtypes and shapes; otherwise the shadow checks them.
Generators are never shadowed (their answers are random draws).
"""

import functools
from collections.abc import Awaitable, Mapping
from typing import Any

from numpy.typing import NDArray

from service.card import ModelCard
from service.ports import Model, TensorSpec
from service.runtime.encoded import Inputs, materialized
from service.runtime.rollout import ModelRollout
from service.runtime.shadow import Arrays, ShadowJob, ShadowPlan
from service.runtime.spec import ModelSpec

NOT_SHADOWED = frozenset({"generate"})


def _same_inputs(primary: Model, shadow: Model) -> bool:
    def described(model: Model) -> dict[str, tuple[str, tuple[int | None, ...]]]:
        return {name: (spec.dtype, tuple(spec.shape)) for name, spec in model.inputs.items()}

    return described(primary) == described(shadow)


class ShadowedModel:
    """The primary, as the `Model` protocol has it; its calls also go to ``shadow``.

    Made once per primary/shadow pair and table (`shadowed`): a request then only adds
    its tensors to the runner.
    """

    def __init__(self, primary: Model, shadow: Model, rollout: ModelRollout) -> None:
        self.primary = primary
        self.shadow = shadow
        self._runner = rollout.runner
        binding = primary.spec.classify

        def plan(trusted: bool) -> ShadowPlan:
            return ShadowPlan(
                model=primary.name,
                primary=primary.version,
                shadow=shadow.version,
                run=functools.partial(_run_off_loop, shadow, trusted),
                top1_output=binding.output if binding is not None else None,
                labels=binding.labels if binding is not None else (),
                tolerance=rollout.table.tolerance,
                record=rollout.shadows,
            )

        # Tensors the primary's own preprocessing built are trusted by a shadow that
        # takes the same inputs; any others are checked by the shadow.
        self._plans = {False: plan(False), True: plan(_same_inputs(primary, shadow))}

    @property
    def name(self) -> str:
        return self.primary.name

    @property
    def version(self) -> int:
        return self.primary.version

    @property
    def task(self) -> str:
        return self.primary.task

    @property
    def card(self) -> ModelCard:
        return self.primary.card

    @property
    def spec(self) -> ModelSpec:
        return self.primary.spec

    @property
    def device(self) -> str:
        return self.primary.device

    @property
    def inputs(self) -> Mapping[str, TensorSpec]:
        return self.primary.inputs

    @property
    def outputs(self) -> Mapping[str, TensorSpec]:
        return self.primary.outputs

    async def infer(
        self,
        inputs: Inputs,
        *,
        timeout_s: float | None = None,
        trusted: bool = False,
        off_loop: bool = False,
        in_company: bool = False,
    ) -> dict[str, NDArray[Any]]:
        inputs = materialized(inputs)  # the shadow's copy needs the rows themselves
        outputs = await self.primary.infer(
            inputs, timeout_s=timeout_s, trusted=trusted, off_loop=off_loop, in_company=in_company
        )
        self._runner.submit(ShadowJob(self._plans[trusted], inputs, outputs))
        return outputs


def shadowed(primary: Model, shadow: Model, rollout: ModelRollout) -> ShadowedModel:
    """The pair's `ShadowedModel`, kept on the rollout until its table is rebuilt."""
    key = (primary.version, shadow.version)
    known = rollout.pairs.get(key)
    if isinstance(known, ShadowedModel) and known.primary is primary and known.shadow is shadow:
        return known
    model = rollout.pairs[key] = ShadowedModel(primary, shadow, rollout)
    return model


def _run_off_loop(shadow: Model, trusted: bool, rows: Arrays) -> Awaitable[Arrays]:
    # On an inference thread, never on the event loop: there, a fast idle shadow would
    # run inline and hold up the primary's next request.
    return shadow.infer(rows, trusted=trusted, off_loop=True)
