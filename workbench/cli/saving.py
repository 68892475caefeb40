"""Glue between a CLI run and the session store: open the database and a writer subscribed to the events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile
    from workbench.store.writer import EventWriter


def open_writer(db: Path | None, loaded: LoadedProfile, session_name: str | None) -> EventWriter:
    from workbench.store import open_store

    # The store opens (creates, checks, migrates) the file; the writer keeps its own connection in its own thread.
    # Close the store's connection now: left to the garbage collector, it would stay open until the process ends
    # (and the CLI ends without the interpreter's teardown, see workbench/cli/__init__.py), leaving the -wal file.
    with open_store(db) as store:
        return store.writer(session=session_name, profile=loaded)


def load_history(db: Path | None, session_name: str) -> list[dict[str, str]]:
    """The conversation saved under `session_name`: each finished run's prompt and answer, oldest first (an
    empty list for a new session). Runs that ended in error add nothing."""
    from workbench.store import open_store

    with open_store(db) as store:
        rows = store.conn.execute(
            "SELECT prompt, output FROM runs WHERE session = ? AND status IN ('ok', 'degraded')"
            " ORDER BY started_ts, id",
            (session_name,),
        ).fetchall()
    history: list[dict[str, str]] = []
    for prompt, output in rows:
        history.append({"role": "user", "content": prompt or ""})
        history.append({"role": "assistant", "content": output or ""})
    return history


def parse_meta(pairs: tuple[str, ...]) -> dict[str, str]:
    """`--meta key=value` pairs as a dict; a pair without `=` or with an empty key is a usage error."""
    import click

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        out[key.strip()] = value
    return out
