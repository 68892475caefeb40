"""Writing finished runs: one transaction per batch, plain `executemany` over prepared column lists.

The writer thread, `save_events` and import all come through here. Runs are inserted with a plain INSERT (a run
id is saved once; a duplicate fails that run, not its neighbours, see `EventWriter`); profiles and sessions are
INSERT OR IGNORE because many runs share them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from workbench.store.records import (
    DECISION_COLUMNS,
    HOP_COLUMNS,
    MESSAGE_COLUMNS,
    PROFILE_COLUMNS,
    RUN_COLUMNS,
    SESSION_COLUMNS,
    RunRecord,
    iso_utc,
)


def insert_sql(table: str, columns: Sequence[str], verb: str = "INSERT") -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f'{verb} INTO "{table}" ({cols}) VALUES ({marks})'


_RUN_SQL = insert_sql("runs", RUN_COLUMNS)
_HOP_SQL = insert_sql("hops", HOP_COLUMNS)
_MESSAGE_SQL = insert_sql("messages", MESSAGE_COLUMNS)
_DECISION_SQL = insert_sql("decisions", DECISION_COLUMNS)
_PROFILE_SQL = insert_sql("profiles", PROFILE_COLUMNS, "INSERT OR IGNORE")
_SESSION_SQL = insert_sql("sessions", SESSION_COLUMNS, "INSERT OR IGNORE")


def profile_row(sha256: str, text: str, path: str | None) -> tuple[Any, ...]:
    return (sha256, text, path, time.time())


def insert_rows(
    conn: sqlite3.Connection, records: Sequence[RunRecord], profiles: Iterable[tuple[Any, ...]] = ()
) -> None:
    """Insert inside the caller's transaction."""
    profiles = list(profiles)
    if profiles:
        conn.executemany(_PROFILE_SQL, profiles)
    if not records:
        return
    now = time.time()
    sessions: dict[str, tuple[Any, ...]] = {}
    for rec in records:
        name = rec.run["session"]
        if name not in sessions:
            sessions[name] = (name, now, iso_utc(now), None, rec.run["profile_hash"])
    conn.executemany(_SESSION_SQL, sessions.values())
    conn.executemany(_RUN_SQL, [tuple(r.run[c] for c in RUN_COLUMNS) for r in records])
    conn.executemany(_HOP_SQL, [tuple(h[c] for c in HOP_COLUMNS) for r in records for h in r.hops])
    conn.executemany(_MESSAGE_SQL, [tuple(m[c] for c in MESSAGE_COLUMNS) for r in records for m in r.messages])
    conn.executemany(_DECISION_SQL, [tuple(d[c] for c in DECISION_COLUMNS) for r in records for d in r.decisions])


def write_batch(
    conn: sqlite3.Connection, records: Sequence[RunRecord], profiles: Iterable[tuple[Any, ...]] = ()
) -> None:
    """All of `records` (and `profiles`) in one transaction, or none of them. Raises sqlite3.Error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        insert_rows(conn, records, profiles)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
