"""Which executor runs which step kind.

An executor is an async generator function taking a `StepCall`: it yields the step's events (its own hop first,
enclosing whatever it does) and leaves a `StepResult` in `call.result`. `run.py` walks the route's steps and
dispatches here; a kind with no executor yet is refused before the run starts, with the step's place in the
profile (`unsupported_kinds`).

`generate` runs through `governance.governed_generate` (allow rules, PII redaction, history truncation) around
`generate.generate_step`; the other kinds live in a module each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import ErrorClass, Event, HopKind, HopStatus
from workbench.engine.gate import gate_step
from workbench.engine.governance import governed_generate
from workbench.engine.parallel import parallel_step
from workbench.engine.retrieve import retrieve_step
from workbench.engine.route_step import route_step
from workbench.engine.subcall import Hop
from workbench.engine.transform import transform_step
from workbench.profiles.models import Route
from workbench.profiles.templates import TemplateError, render_field

Executor = Callable[[StepCall], AsyncIterator[Event]]


async def guarded_retrieve(call: StepCall) -> AsyncIterator[Event]:
    """`retrieve_step` with its `query` template tried first: a query that cannot render (an undefined name, a
    limit) ends the step with an error of class `template`, like every other step's templates, never an
    exception out of the run. (Rendering twice costs microseconds; it keeps retrieve.py's indexing code apart.)"""
    step = call.step
    try:
        render_field(step.name, "query", step.query, call.ctx.template_vars())
    except TemplateError as exc:
        hop = Hop(call, HopKind.RETRIEVE)
        yield hop.started()
        yield hop.finished(HopStatus.ERROR, error=str(exc), error_class=ErrorClass.TEMPLATE)
        call.result = StepResult(name=step.name, kind="retrieve", status="error", error=str(exc), reason=str(exc))
        return
    async for event in retrieve_step(call):
        yield event


EXECUTORS: dict[str, Executor] = {
    "generate": governed_generate,
    "route": route_step,
    "retrieve": guarded_retrieve,
    "gate": gate_step,
    "parallel": parallel_step,
    "transform": transform_step,
}

# Step kinds whose output becomes the next step's input (`RunContext.last_output`). The others (route, gate,
# retrieve) decide, check or add context, and pass the previous output through.
OUTPUT_KINDS = frozenset({"generate", "parallel", "transform"})


def unsupported_kinds(route: Route) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, kind) of every step in `route` this engine cannot run yet."""
    return [(path, step.kind) for path, step in route.all_steps() if step.kind not in EXECUTORS]
