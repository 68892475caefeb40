"""Glue between a CLI run and the session store: open the database and a writer subscribed to the events."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_writer(db: Path | None, loaded: Any, session_name: str | None) -> Any:
    from workbench.store import open_store

    # The store opens (creates, checks, migrates) the file; the writer keeps its own connection in its own thread.
    # Close the store's connection now: left to the garbage collector, it would stay open until the process ends
    # (and the CLI ends without the interpreter's teardown, see workbench/cli/__init__.py), leaving the -wal file.
    with open_store(db) as store:
        return store.writer(session=session_name, profile=loaded)
