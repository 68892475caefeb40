"""Graceful cancellation of a run.

`CancelToken.cancel()` stops a run *and still lets it report*: the engine ends the hop in flight as `cancelled`
(with the usage spent so far, estimated), emits `run_finished` with status `cancelled`, and returns. Consumers
(the store, the TUI) therefore never lose a cancelled hop's cost. Cancelling the consuming task itself also
stops the run, but then no closing events can be emitted — prefer the token.

How it works without a queue or a task per chunk: the engine's generator runs in the consumer's task. While it
awaits the provider (`awaiting()`), the token remembers that task; `cancel()` then cancels it, the engine catches
the CancelledError at that await, sees the token set, `uncancel()`s the task and winds down. When the consumer is
busy elsewhere, `cancel()` only sets the flag and the engine notices at its next step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class CancelToken:
    __slots__ = ("_cancelled", "_reason", "_waiting_task", "_fired")

    def __init__(self) -> None:
        self._cancelled = False
        self._reason = "cancelled by user"
        self._waiting_task: asyncio.Task[Any] | None = None
        self._fired = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def reason(self) -> str:
        return self._reason

    def cancel(self, reason: str = "cancelled by user") -> None:
        if self._cancelled:
            return
        self._cancelled = True
        self._reason = reason
        task = self._waiting_task
        if task is not None and not task.done():
            self._fired = True
            task.cancel(msg=reason)

    @contextmanager
    def awaiting(self) -> Iterator[None]:
        """Mark the code inside as an await that `cancel()` may interrupt."""
        self._waiting_task = asyncio.current_task()
        try:
            yield
        finally:
            self._waiting_task = None

    def absorb(self) -> bool:
        """After catching CancelledError: True (and the task un-cancelled) if this token caused it."""
        if self._cancelled and self._fired:
            self._fired = False
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return True
        return False
