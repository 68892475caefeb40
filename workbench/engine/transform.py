"""The `transform` step executor: render a template over the run context into the step's output; no model."""

from __future__ import annotations

from collections.abc import AsyncIterator

from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import Event, HopKind, HopStatus
from workbench.engine.subcall import Hop
from workbench.profiles.templates import render


async def transform_step(call: StepCall) -> AsyncIterator[Event]:
    hop = Hop(call, HopKind.TRANSFORM)
    yield hop.started()
    try:
        text = render(call.step.template, call.ctx.template_vars())
    except Exception as exc:  # an undefined name at run time (e.g. steps.x of a branch not taken)
        error = f"template of step {call.step.name!r} failed: {exc}"
        yield hop.finished(HopStatus.ERROR, error=error)
        call.result = StepResult(name=call.step.name, kind="transform", status="error", error=error)
        return
    yield hop.finished(output=text)
    call.result = StepResult(name=call.step.name, kind="transform", output=text)
