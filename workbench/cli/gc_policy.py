"""Garbage collection while the CLI starts: fewer collections during the imports, the normal policy after.

Importing the profile models, httpx and the store allocates ~80,000 objects that live as long as the process; with
Python's default thresholds the cyclic collector walks them over and over (~20 ms of the way to `workbench run`'s
first event). `relax()` raises the thresholds (collections still happen, far less often: never unbounded growth);
`restore()` puts the defaults back and freezes what start-up made (gc.freeze: later collections skip it), once the
command has started — `workbench run` after its first event, the TUI before its app runs.
"""

from __future__ import annotations

import gc

_saved: tuple[int, int, int] | None = None


def relax() -> None:
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
        gc.set_threshold(100_000, 50, 1_000)


def restore() -> None:
    global _saved
    if _saved is not None:
        gc.set_threshold(*_saved)
        _saved = None
        gc.freeze()
