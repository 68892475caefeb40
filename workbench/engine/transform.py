"""The `transform` step executor: render a template over the run context into the step's output; no model."""

from __future__ import annotations

from collections.abc import AsyncIterator

from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import ErrorClass, Event, HopKind, HopStatus
from workbench.engine.subcall import Hop
from workbench.profiles.templates import TemplateError, render_field


async def transform_step(call: StepCall) -> AsyncIterator[Event]:
    hop = Hop(call, HopKind.TRANSFORM)
    yield hop.started()
    try:
        text = render_field(call.step.name, "template", call.step.template, call.ctx.template_vars())
    except TemplateError as exc:  # an undefined name at run time (e.g. steps.x of a branch not taken)
        error = str(exc)
        yield hop.finished(HopStatus.ERROR, error=error, error_class=ErrorClass.TEMPLATE)
        call.result = StepResult(name=call.step.name, kind="transform", status="error", error=error)
        return
    yield hop.finished(output=text)
    call.result = StepResult(name=call.step.name, kind="transform", output=text)
