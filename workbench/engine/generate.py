"""The `generate` step executor: a step hop enclosing one attempt hop per call, driven by `StepRunner`'s policy.

Every caller that needs a model's answer goes through here — the route's own generate steps, and (in the
semantics layers) a classifier's or judge's call, a parallel child, a gate's retry — so retries, fallbacks,
breakers, caps and accounting behave the same wherever a model is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from workbench.engine.attempt import AttemptOutcome, run_attempt
from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import Event, HopFinished
from workbench.engine.step import StepRunner


async def generate_step(call: StepCall) -> AsyncIterator[Event]:
    """Run a generate step; leaves `call.result` (status, output, error)."""
    runner = StepRunner(
        call.engine,
        call.state,
        call.step,
        call.ctx,
        call.extra_headers,
        route=call.route,
        path=call.path,
        parent_id=call.parent_id,
    )
    yield runner.started()
    cancel = call.cancel
    while True:
        pending, plan = runner.next_attempt()
        for event in pending:
            yield event
        if plan is None:
            break
        out = AttemptOutcome()
        last: Event | None = None
        async for last in run_attempt(plan, cancel, out):
            yield last
        assert isinstance(last, HopFinished)
        for event in runner.settle(plan, out, last):
            yield event
        if runner.done:
            break
    yield runner.finished()
    status = runner.status if runner.status in ("ok", "cancelled") else "error"
    call.result = StepResult(
        name=call.step.name,
        kind="generate",
        status=status,
        output=runner.text,
        error=runner.error,
        reason=runner.reason,
    )
