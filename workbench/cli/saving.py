"""Glue between a CLI run and the session store: open the database and a writer subscribed to the events."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_writer(db: Path | None, loaded: Any, session_name: str | None) -> Any:
    from workbench.store import open_store

    store = open_store(db)
    writer = store.writer(session=session_name, profile=loaded)
    return writer
