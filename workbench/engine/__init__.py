"""The orchestration engine: runs a route for a prompt and yields a typed stream of events.

Pure asyncio: no UI, no SQL. See `workbench.engine.events` for the event contract and
`workbench.engine.run.Engine` for the entry point.
"""

from typing import TYPE_CHECKING, Any

from workbench.engine.cancel import CancelToken
from workbench.engine.events import (
    Decision,
    Event,
    FirstToken,
    HopFinished,
    HopStarted,
    Progress,
    RunFinished,
    RunStarted,
    Token,
)

# Engine pulls in httpx, providers and the tokenizer: load it on first use, so consumers that only need the event
# types (the store, `workbench sessions ...`) start fast. The type checker sees the real names.
if TYPE_CHECKING:
    from workbench.engine.run import Engine, new_run_id


def __getattr__(name: str) -> Any:  # module-level lazy attribute (PEP 562)
    if name in ("Engine", "new_run_id"):
        from workbench.engine import run

        return getattr(run, name)
    raise AttributeError(name)


__all__ = [
    "CancelToken",
    "Decision",
    "Engine",
    "Event",
    "FirstToken",
    "HopFinished",
    "HopStarted",
    "Progress",
    "RunFinished",
    "RunStarted",
    "Token",
    "new_run_id",
]
