"""Hedged requests: when an attempt has no first token after `hedge.after_ms`, start the next target in parallel;
the first to stream a token wins and the other is cancelled (its connection closed), its hop ending `superseded`
with the cost of what it was sent and sent back counted.

Only steps with a hedge configured come here; every other attempt keeps the single-stream fast path in
`generate.py` (the attempt's generator runs in the consumer's task, no queue). Here each attempt runs as its own
task and pushes its events into one queue, which this generator drains in arrival order, so the run's event
stream stays one ordered stream. A loser's tokens that arrive after the winner is known are not passed on (its
`hop_finished` still carries what it received).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from workbench.engine.attempt import AttemptOutcome, AttemptPlan, run_attempt
from workbench.engine.cancel import CancelToken
from workbench.engine.events import Decision, DecisionAction, Event, FirstToken, HopFinished, HopStarted, Token
from workbench.engine.step import StepRunner

_DONE = object()


class _Racer:
    __slots__ = ("plan", "out", "token", "task", "finished", "settled")

    def __init__(self, plan: AttemptPlan) -> None:
        self.plan = plan
        self.out = AttemptOutcome()
        self.token = CancelToken()
        self.task: asyncio.Task[None] | None = None
        self.finished: HopFinished | None = None
        self.settled = False  # handed to runner.settle; until then, a teardown must free its health slot


async def _drive(racer: _Racer, queue: asyncio.Queue[tuple[_Racer, Any]]) -> None:
    try:
        async for event in run_attempt(racer.plan, racer.token, racer.out):
            queue.put_nowait((racer, event))
    finally:
        queue.put_nowait((racer, _DONE))


async def hedged(runner: StepRunner, plan: AttemptPlan, after_s: float, cancel: CancelToken) -> AsyncIterator[Event]:
    """Run `plan`, hedged by the step's next target after `after_s` without a first token. Settles every attempt
    it starts on `runner`."""
    queue: asyncio.Queue[tuple[_Racer, Any]] = asyncio.Queue()  # (racer, an Event or _DONE)
    loop = asyncio.get_running_loop()
    first = _Racer(plan)
    racers = [first]
    first.task = loop.create_task(_drive(first, queue))
    hedge_at: float | None = loop.time() + after_s
    winner: _Racer | None = None
    running = 1
    me = asyncio.current_task()
    linked = False  # the run's cancel passed on to the racers
    try:
        while running:
            if cancel._cancelled and not linked:
                linked = True
                for r in racers:
                    r.token.cancel(cancel.reason)
            cancel._waiting_task = me
            try:
                if hedge_at is None:
                    item = await queue.get()
                else:
                    item = await asyncio.wait_for(queue.get(), max(0.0, hedge_at - loop.time()))
            except TimeoutError:
                item = None
            except asyncio.CancelledError:
                if not cancel.absorb():
                    raise
                linked = True
                for r in racers:
                    r.token.cancel(cancel.reason)
                continue
            finally:
                cancel._waiting_task = None
            if item is None:  # no first token in time: start the hedge
                hedge_at = None
                pending, second_plan = runner.next_attempt()
                if second_plan is None:
                    for event in pending:
                        yield event
                    continue
                second_plan.role = "hedge"
                second = _Racer(second_plan)  # a racer from here: torn down before it starts, it is still freed
                racers.append(second)
                started = pending.pop()  # the hedge's hop_started: after the decision that explains it
                assert isinstance(started, HopStarted)
                started.role = "hedge"
                for event in pending:
                    yield event
                yield Decision(
                    run_id=plan.run_id,
                    hop_id=plan.parent_id,
                    action=DecisionAction.HEDGE,
                    target=second_plan.alias,
                    reason=f"{plan.alias} sent no first token within {after_s * 1000:.0f} ms; starting"
                    f" {second_plan.alias} in parallel, the first to stream wins",
                    data={"after_ms": after_s * 1000.0, "waiting": plan.alias, "hedge": second_plan.alias},
                )
                yield started
                second.task = loop.create_task(_drive(second, queue))
                running += 1
                continue
            racer, event = item
            if event is _DONE:
                running -= 1
                racing = running > 0 and winner is None
                assert racer.finished is not None
                racer.settled = True
                for e in runner.settle(racer.plan, racer.out, racer.finished, racing=racing):
                    yield e
                continue
            if isinstance(event, HopFinished):
                racer.finished = event
                yield event
                continue
            if winner is None and isinstance(event, FirstToken):
                winner, hedge_at = racer, None
                for other in racers:
                    if other is not racer and other.finished is None:
                        other.plan.superseded = True
                        other.token.cancel("superseded by a hedged attempt")
            elif winner is not None and racer is not winner and isinstance(event, FirstToken | Token):
                continue  # a loser's late tokens: not part of the answer
            yield event
    finally:
        for r in racers:
            if r.task is not None and not r.task.done():
                r.plan.superseded = True
                r.token.cancel("the run was torn down")
                r.task.cancel()
        for r in racers:
            if r.task is not None:
                try:
                    await r.task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - teardown: the run is already over
                    pass
            if not r.settled:  # never started, still running, or finished and not yet settled
                runner.abandon(r.plan)
