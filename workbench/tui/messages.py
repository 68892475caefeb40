"""Messages the run worker posts to the app: a run's beginning and its end.

Streaming itself does not travel as messages (one per token would flood the queue): the worker folds events
into a `RunState` and the app drains it on a timer. These two mark the edges of a run so handlers can arm and
disarm that timer, apply the final frame, and show the outcome.
"""

from __future__ import annotations

from typing import Literal

from textual.message import Message

from workbench.tui.runner import RunState

Outcome = Literal["ok", "error", "cancelled"]


class RunBegan(Message):
    """The worker has an engine and is about to iterate a run's events."""

    def __init__(self, state: RunState) -> None:
        super().__init__()
        self.state = state


class RunEnded(Message):
    """The run is over: the engine finished it (ok or error), it was cancelled, or the worker failed."""

    def __init__(self, state: RunState, outcome: Outcome, error: str | None = None) -> None:
        super().__init__()
        self.state = state
        self.outcome = outcome
        self.error = error
