"""The `generate` step executor: a step hop enclosing one attempt hop per call, driven by `StepRunner`'s policy.

Every caller that needs a model's answer goes through here — the route's own generate steps, and (in the
semantics layers) a classifier's or judge's call, a parallel child, a gate's retry — so retries, fallbacks,
breakers, caps and accounting behave the same wherever a model is called.

Between two attempts on the same target the step waits as its `retry` decision said (Retry-After or backoff);
the wait is cancellable by the run's `CancelToken` like any other await.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from workbench.engine.attempt import AttemptOutcome, run_attempt
from workbench.engine.cancel import CancelToken
from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import ErrorClass, Event, HopFinished, HopKind, HopStarted, HopStatus
from workbench.engine.hedge import hedged
from workbench.engine.step import StepRunner
from workbench.profiles.templates import TemplateError


async def _wait(seconds: float, cancel: CancelToken) -> bool:
    """Sleep `seconds`; False if the run was cancelled meanwhile."""
    if cancel._cancelled:
        return False
    task = asyncio.current_task()
    cancel._waiting_task = task
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if cancel.absorb():
            return False
        raise
    finally:
        cancel._waiting_task = None
    return not cancel._cancelled


def template_failed(call: StepCall, exc: TemplateError) -> Iterator[Event]:
    """A generate step whose prompt or system template failed to render: its step hop ends in error with class
    `template` before any call (nothing sent, nothing spent), like a transform step's; the run ends `error` and is
    saved with what earlier steps spent."""
    state, step = call.state, call.step
    hop_id = state.next_hop_id()
    t0 = time.monotonic()
    yield HopStarted(run_id=state.run_id, hop_id=hop_id, parent_id=call.parent_id, kind=HopKind.STEP, name=step.name)
    error = str(exc)
    yield HopFinished(
        run_id=state.run_id,
        hop_id=hop_id,
        parent_id=call.parent_id,
        kind=HopKind.STEP,
        name=step.name,
        status=HopStatus.ERROR,
        latency_ms=(time.monotonic() - t0) * 1000.0,
        error=error,
        error_class=ErrorClass.TEMPLATE,
    )
    call.result = StepResult(name=step.name, kind="generate", status="error", error=error, reason=error)


async def generate_step(call: StepCall) -> AsyncIterator[Event]:
    """Run a generate step; leaves `call.result` (status, output, error)."""
    try:
        runner = StepRunner(
            call.engine,
            call.state,
            call.step,
            call.ctx,
            call.extra_headers,
            route=call.route,
            path=call.path,
            parent_id=call.parent_id,
            allowed=call.allowed_targets,
        )
    except TemplateError as exc:
        for event in template_failed(call, exc):
            yield event
        return
    yield runner.started()
    cancel = call.cancel
    answered_by: str | None = None  # the alias whose attempt answered (a gate's retry or fallback needs it)
    while True:
        if runner.wait_s > 0:
            wait, runner.wait_s = runner.wait_s, 0.0
            if not await _wait(wait, cancel):
                runner.status, runner.reason = "cancelled", cancel.reason
                runner.error, runner.done = cancel.reason, True
                break
        pending, plan = runner.next_attempt()
        try:
            for event in pending:
                yield event
        except BaseException:  # closed at its hop_started (the consumer left): the attempt never starts, but
            if plan is not None:  # next_attempt() counted it in flight (and as the breaker's probe): free that
                runner.abandon(plan)
            raise
        if plan is None:
            if runner.queue_wait > 0:  # every target's breaker is open: wait in the route's queue, then again
                queue_id = runner.state.next_hop_id()
                yield HopStarted(
                    run_id=runner.state.run_id, hop_id=queue_id, parent_id=runner.step_id, kind=HopKind.QUEUE
                )
                t0 = time.monotonic()
                try:
                    waited = await _wait(runner.queue_wait, cancel)
                finally:
                    runner.requeue()
                yield HopFinished(
                    run_id=runner.state.run_id,
                    hop_id=queue_id,
                    parent_id=runner.step_id,
                    kind=HopKind.QUEUE,
                    name="queue",
                    status=HopStatus.OK if waited else HopStatus.CANCELLED,
                    latency_ms=(time.monotonic() - t0) * 1000.0,
                )
                if waited:
                    continue
                runner.status, runner.reason = "cancelled", cancel.reason
                runner.error, runner.done = cancel.reason, True
            break
        hedge_s = runner.hedge_after(plan)
        if hedge_s is not None:
            async for event in hedged(runner, plan, hedge_s, cancel):
                yield event
            if runner.done:
                break
            continue
        out = AttemptOutcome()
        last: Event | None = None
        settled = False
        try:
            async for last in run_attempt(plan, cancel, out):
                yield last
            assert isinstance(last, HopFinished)
            settled = True
            if out.status == HopStatus.OK:
                answered_by = plan.alias
            for event in runner.settle(plan, out, last):
                yield event
        finally:
            if not settled:
                runner.abandon(plan)
        if runner.done:
            break
    yield runner.finished()
    status = runner.status if runner.status in ("ok", "cancelled", "degraded") else "error"
    call.result = StepResult(
        name=call.step.name,
        kind="generate",
        status=status,
        output=runner.text,
        error=runner.error,
        reason=runner.reason,
        # what a gate needs to re-run this step: its input, and who answered
        data={"input": runner.messages[-1]["content"], "model": answered_by},
    )
