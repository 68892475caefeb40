"""Admission control: an engine-wide limit on runs in flight (the profile's `engine.max_concurrent_runs`).

Why (issue 12 item 9, measured with benchmarks/load.py): with the simulator in the same process, 100 runs started
at once keep the event loop so busy — httpcore's pool bookkeeping, a hundred streams' events, the simulator's
handlers on the same GIL — that the *healthy* fallback misses its 2 s first-token deadline, its breaker opens and
hundreds of runs fail; at 20 at once none do. A run beyond the limit therefore waits, first in first out, after
`run_started` and its route decision and before its first step: a `queue` decision (its position, the limit) and
a `queue` hop named `admission` whose latency is the wait. No attempt's timer runs while it waits, so a
first-token timeout never includes it; the run's latency budget does (its clock started at `run_started`), and a
budget that ends while waiting ends the run in error, saying so.

A freed slot is handed straight to the oldest waiter (no barging: a run arriving at that moment queues behind it).
Everything runs on the engine's event loop: no locks.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from workbench.engine.events import (
    Decision,
    DecisionAction,
    ErrorClass,
    Event,
    HopFinished,
    HopKind,
    HopStarted,
    HopStatus,
)
from workbench.profiles.steps import ParallelStep, walk_steps

if TYPE_CHECKING:
    from workbench.engine.cancel import CancelToken
    from workbench.engine.step import RunState
    from workbench.profiles.models import Profile, Provider

#: the name of the queue hop a run waiting for admission shows (the outage queue's hops are named "queue")
ADMISSION = "admission"


class AdmissionGate:
    """At most `limit` runs in flight; the rest wait in FIFO order. `peak` is the most ever in flight at once."""

    __slots__ = ("limit", "in_flight", "peak", "_waiters")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_enter(self) -> bool:
        """Take a slot at once if one is free and nobody waits for it."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            if self.in_flight > self.peak:
                self.peak = self.in_flight
            return True
        return False

    def enqueue(self) -> tuple[asyncio.Future[None], int]:
        """Join the queue: a future that completes when a slot is handed over, and the 1-based position."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return fut, len(self._waiters)

    def leave(self) -> None:
        """A run in flight ended: its slot goes to the oldest waiter still waiting, else back to the pool."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot changes hands: in_flight stays the same
                return
        self.in_flight -= 1

    def give_up(self, fut: asyncio.Future[None]) -> None:
        """A waiter stops waiting (cancelled, out of budget). A slot handed to it meanwhile is passed on."""
        if fut.done() and not fut.cancelled():
            self.leave()
            return
        fut.cancel()
        try:
            self._waiters.remove(fut)
        except ValueError:
            pass


def calls_per_run(profile: Profile) -> int:
    """The most calls one run of this profile can have open at once: a parallel step's fan-out (every step
    under it counted), times a hedge's `max_parallel` when any hedge is configured. An upper bound, not a guess."""
    widest = 1
    hedge = 1
    blocks: list[Any] = [profile.policies]
    for route in profile.routes.values():
        blocks.append(route)
        for _, step in route.all_steps():
            blocks.append(step)
            blocks.extend(t for t in getattr(step, "targets", None) or () if not isinstance(t, str))
            if isinstance(step, ParallelStep):
                widest = max(widest, len(step.targets) if step.targets else len(walk_steps(step.steps or [])))
    for block in blocks:
        h = getattr(block, "hedge", None)
        if h is not None and h.after_ms is not None:
            hedge = max(hedge, h.max_parallel or 2)
    return widest * hedge


def sized_pool(profile: Profile, provider_name: str) -> Provider:
    """The provider entry with its connection pool sized to the work the engine admits: no more connections than
    `engine.max_concurrent_runs` runs can use at once (`calls_per_run`), never more than the profile allows.
    A pool much larger than the work costs CPU on every request (httpcore walks every pooled connection, and
    polls each idle one, each time a request starts or ends) and buys nothing."""
    provider = profile.providers[provider_name]
    wanted = profile.engine.max_concurrent_runs * calls_per_run(profile)
    if wanted >= provider.max_connections:
        return provider
    return provider.model_copy(update={"max_connections": wanted})


class Admitted:
    """How a wait for admission ended: `ok`, or the run's status, error and reason when it did not get a slot."""

    __slots__ = ("ok", "status", "error", "reason", "gave_up")

    def __init__(self) -> None:
        self.ok = False
        self.gave_up = False  # its place in the queue was given back (exactly once)
        self.status = "error"
        self.error: str | None = None
        self.reason: str | None = None


async def wait_for_slot(
    gate: AdmissionGate,
    state: RunState,
    cancel: CancelToken,
    deadline: float | None,
    budget_ms: float | None,
    out: Admitted,
) -> AsyncGenerator[Event, None]:
    """Wait in the gate's queue, yielding the `queue` decision and the `admission` queue hop; fills `out`."""
    run_id = state.run_id
    fut, position = gate.enqueue()
    finished = False
    try:
        hop_id = state.next_hop_id()
        ahead = position - 1
        yield Decision(
            run_id=run_id,
            hop_id=hop_id,
            action=DecisionAction.QUEUE,
            reason=f"the engine is at its limit of {gate.limit} runs in flight (engine.max_concurrent_runs); waiting for"
            f" a slot, position {position} ({ahead} ahead)",
            data={"scope": ADMISSION, "position": position, "limit": gate.limit, "in_flight": gate.in_flight},
        )
        yield HopStarted(run_id=run_id, hop_id=hop_id, parent_id=None, kind=HopKind.QUEUE, name=ADMISSION)
        t0 = time.monotonic()
        status, error, error_class = HopStatus.OK, None, None
        task = asyncio.current_task()
        try:
            if not cancel._cancelled:
                cancel._waiting_task = task
                try:
                    async with asyncio.timeout_at(deadline):  # None: no deadline
                        await fut
                finally:
                    cancel._waiting_task = None
                out.ok = True
        except TimeoutError:
            _give_up(gate, fut, out)
            waited = time.monotonic() - t0
            status, error_class = HopStatus.TIMEOUT, ErrorClass.BUDGET
            error = (
                f"the run's latency budget of {budget_ms:g} ms ran out after {waited * 1000:.0f} ms waiting for"
                f" admission (the engine runs at most {gate.limit} at once; position {position} on arrival)"
            )
            out.status, out.error, out.reason = "error", error, "latency budget spent waiting for admission"
        except asyncio.CancelledError:
            if not cancel.absorb():
                _give_up(gate, fut, out)
                raise  # the consumer's task itself was cancelled: nothing more may be emitted
        if not out.ok and status == HopStatus.OK:  # cancelled by the run's token, before or while waiting
            _give_up(gate, fut, out)
            status, error_class = HopStatus.CANCELLED, ErrorClass.CANCELLED
            error = cancel.reason
            out.status, out.error, out.reason = "cancelled", cancel.reason, cancel.reason
        waited_ms = (time.monotonic() - t0) * 1000.0
        yield HopFinished(
            run_id=run_id,
            hop_id=hop_id,
            parent_id=None,
            kind=HopKind.QUEUE,
            name=ADMISSION,
            status=status,
            latency_ms=waited_ms,
            error=error,
            error_class=error_class,
            reason=None if out.ok else out.reason,
            data={"scope": ADMISSION, "position": position, "waited_ms": round(waited_ms, 3), "limit": gate.limit},
        )
        finished = True
    finally:
        if not finished:  # the consumer walked away (closed the run, or its task was cancelled) mid-wait
            if out.ok:
                gate.leave()  # admitted just now: the slot goes on to the next waiter
            else:
                _give_up(gate, fut, out)


def _give_up(gate: AdmissionGate, fut: asyncio.Future[None], out: Admitted) -> None:
    if not out.gave_up:
        out.gave_up = True
        gate.give_up(fut)
