"""One engine run driven for a screen: how the playground and compare run a prompt, and how they stop it.

`LiveRun.drive` iterates the engine's events; each goes to the app's observers (the store's writer, the health
book) and is folded into the run's `RunState`. `LiveRun.stop` asks the engine to stop through the run's
`CancelToken`: the engine ends the hop in flight as `cancelled` and still reports `run_finished` (cancelled), so
the store saves the run with what it spent. A screen that sees no end within `HARD_STOP_AFTER` seconds cancels
the worker itself; `drive` then closes the run in the engine's stead (`abandon`): rows still open are marked
cancelled on screen, and a `run_finished` (cancelled, with the figures of the hops that did report) goes to the
observers, so the run is saved all the same rather than left half-built in the writer.

`settle_input` lets keys already typed reach the focused widget before a send reads it (a priority binding such
as ctrl+s runs as soon as the app sees its key, ahead of the letters queued for the editor).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from decimal import Decimal
from typing import Any

from workbench.engine.cancel import CancelToken
from workbench.engine.events import Event, RunFinished, RunStatus, cost_record
from workbench.tui.runner import RunState

HARD_STOP_AFTER = 2.0  # seconds to wait for the engine to wind down after `stop` before cancelling the task
ABANDONED = "stopped by the user; the engine did not report the run's end in time"


class LiveRun:
    """A `RunState` being filled from one `engine.run`, and the token that stops it."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.token = CancelToken()

    @property
    def stopping(self) -> bool:
        return self.token.cancelled

    def stop(self, reason: str = "cancelled by user") -> None:
        self.token.cancel(reason)

    async def drive(self, engine: Any, observe: Callable[[Event], None], **run_kwargs: Any) -> None:
        """Run the state's prompt on its route; every event to `observe`, then folded into the state."""
        state = self.state
        try:
            async with aclosing(engine.run(state.prompt, route=state.route, cancel=self.token, **run_kwargs)) as events:
                apply = state.apply
                async for event in events:
                    observe(event)
                    apply(event)
        except asyncio.CancelledError:
            abandon(state, observe)
            raise


def abandon(state: RunState, observe: Callable[[Event], None], reason: str = ABANDONED) -> None:
    """The run's task was cancelled before the engine reported the end: close it on screen and for the store."""
    state.mark_cancelled()
    if state.run_id is None or state.finished is not None:
        return
    attempts = [r for r in state.rows.values() if r.kind == "attempt" and r.cost_usd is not None]
    cost = sum((r.cost_usd or Decimal(0) for r in attempts), Decimal(0))
    end = RunFinished(
        run_id=state.run_id,
        status=RunStatus.CANCELLED,
        output=state.answer,
        latency_ms=state.now() * 1000.0,
        ttft_ms=None if state.first_token_at is None else state.first_token_at * 1000.0,
        input_tokens=sum(r.input_tokens or 0 for r in attempts),
        output_tokens=sum(r.output_tokens or 0 for r in attempts),
        cost_usd=cost,
        cost=cost_record(cost),
        estimated=any(r.estimated for r in attempts),
        reason=reason,
    )
    observe(end)
    state.apply(end)


async def settle_input(widget: Any) -> None:
    """Wait until `widget` has handled every message already queued for it (keys typed before this call)."""
    if widget is None or not widget.is_running:
        return
    done = asyncio.Event()
    if widget.call_later(done.set):
        await done.wait()
