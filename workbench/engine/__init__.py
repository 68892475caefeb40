"""The orchestration engine: runs a route for a prompt and yields a typed stream of events.

Pure asyncio: no UI, no SQL. See `workbench.engine.events` for the event contract and
`workbench.engine.run.Engine` for the entry point.
"""

from workbench.engine.cancel import CancelToken
from workbench.engine.events import (
    Decision,
    Event,
    FirstToken,
    HopFinished,
    HopStarted,
    RunFinished,
    RunStarted,
    Token,
)
from workbench.engine.run import Engine, new_run_id

__all__ = [
    "CancelToken",
    "Decision",
    "Engine",
    "Event",
    "FirstToken",
    "HopFinished",
    "HopStarted",
    "RunFinished",
    "RunStarted",
    "Token",
    "new_run_id",
]
