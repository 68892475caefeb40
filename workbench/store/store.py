"""The session store: open (create, check, migrate) a database and read, search, delete or save runs in it.

    store = open_store()                      # --db / $WORKBENCH_DB, else workbench/locations.py
    writer = store.writer(session="tuning", profile=loaded_profile)   # background EventWriter
    store.list_runs(limit=20); store.get_run("0190ab"); store.search("refund policy"); store.delete_run(id)
    store.list_runs(200, filters=RunFilter(status="error"), before=cursor); store.count_runs(filters)  # browse.py

Opening checks, in this order, and refuses with a StoreError before writing anything: the directory and file
can be written (or, for read-only use, read), the file is an SQLite database, and its recorded migrations are
all known to this version (a newer workbench's database is never touched). Only then is WAL switched on and
are missing migrations applied.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from workbench.errors import StoreError
from workbench.store import migrations
from workbench.store.browse import RunFilter, count_runs
from workbench.store.browse import list_runs as list_page
from workbench.store.db import (
    connect,
    default_busy_timeout,
    ensure_writable_file,
    resolve_db_path,
    set_wal,
    store_error,
)

if TYPE_CHECKING:
    from workbench.engine.events import Event
    from workbench.store.queries import RunDetail
    from workbench.store.writer import EventWriter


def _check_version(db: sqlite_utils.Database, path: Path) -> None:
    unknown = migrations.unknown_migrations(db)
    if unknown:
        newest = max(unknown)
        raise StoreError(
            f"the session database {path} was written by a newer version of workbench (schema {newest},"
            f" this version knows up to {migrations.latest_version()}); it was not opened or changed",
            hint="upgrade workbench to open it, or use another file with --db",
            title="session database from a newer version",
        )


def open_connection(
    path: Path, *, busy_timeout: float | None = None, stop_before: int | None = None
) -> sqlite3.Connection:
    """A writable, migrated connection to `path`, creating the file (mode 0600) if needed."""
    busy_timeout = default_busy_timeout() if busy_timeout is None else busy_timeout
    ensure_writable_file(path)
    conn = connect(path, busy_timeout=busy_timeout)
    try:
        db = sqlite_utils.Database(conn, execute_plugins=False)
        try:
            _check_version(db, path)
        except sqlite3.Error as exc:
            raise store_error(exc, path, "reading the schema version") from None
        set_wal(conn, path)
        try:
            migrations.migrate(db, stop_before=stop_before)
        except sqlite3.Error as exc:
            raise store_error(exc, path, "upgrading the schema", busy_timeout=busy_timeout) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _open_readonly(path: Path, busy_timeout: float) -> sqlite3.Connection:
    try:
        conn = connect(path, readonly=True, busy_timeout=busy_timeout)
    except StoreError:
        # A WAL database in a read-only directory cannot get its -shm file; with no -wal left behind
        # (a clean close removes it) the file alone is the whole database and can be read as immutable.
        if Path(f"{path}-wal").exists():
            raise
        conn = connect(path, readonly=True, immutable=True, busy_timeout=busy_timeout)
    db = sqlite_utils.Database(conn, execute_plugins=False)
    try:
        _check_version(db, path)
        if migrations.pending(db):
            raise StoreError(
                f"the session database {path} was written by an older version of workbench and is read-only,"
                " so it cannot be upgraded",
                hint=f"make it writable (chmod u+w {path}) and run the command again",
            )
    except sqlite3.Error as exc:
        conn.close()
        raise store_error(exc, path, "reading") from None
    except BaseException:
        conn.close()
        raise
    return conn


def open_store(
    db: str | os.PathLike[str] | None = None, *, create: bool = True, busy_timeout: float | None = None
) -> Store:
    """Open the session database (see module docstring). `create=False`: it must already exist, and a
    read-only file is opened read-only (reading commands still work on it)."""
    path = resolve_db_path(db)
    busy_timeout = default_busy_timeout() if busy_timeout is None else busy_timeout
    if not create:
        if not path.exists():
            raise StoreError(
                f"there is no session database at {path}",
                hint="runs are saved there by `workbench run`; use --db or $WORKBENCH_DB for another file",
            )
        if path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
            return Store(path, _open_readonly(path, busy_timeout), readonly=True, busy_timeout=busy_timeout)
    return Store(path, open_connection(path, busy_timeout=busy_timeout), busy_timeout=busy_timeout)


class Store:
    """An open session database. Not thread-safe: one Store per thread (the EventWriter opens its own)."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, *, readonly: bool = False, busy_timeout: float = 5.0
    ) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self.readonly = readonly
        self.busy_timeout = busy_timeout

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn sqlite3 failures inside the block into StoreErrors naming this file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise store_error(exc, self.path, doing, busy_timeout=self.busy_timeout) from None

    def require_writable(self, doing: str) -> None:
        if self.readonly:
            raise StoreError(
                f"the session database {self.path} is read-only; {doing} is not possible",
                hint=f"make it writable (chmod u+w {self.path}) and its directory too",
            )

    @contextmanager
    def transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (then raised as a StoreError)."""
        self.require_writable(doing)
        with self.errors(doing):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        return max(migrations.applied(self.db), default=0)

    # -- writing ----------------------------------------------------------------------------------------------
    def writer(self, session: str | None = None, profile: Any = None, **kwargs: Any) -> EventWriter:
        """A background EventWriter on this database (its own thread and connection)."""
        from workbench.store.writer import EventWriter

        self.require_writable("saving runs")
        return EventWriter(
            self.path,
            session=session,
            profile=profile,
            busy_timeout=kwargs.pop("busy_timeout", self.busy_timeout),
            **kwargs,
        )

    def save_events(
        self,
        events: Iterable[Event],
        *,
        session: str | None = None,
        profiles: Iterable[tuple[str, str, str | None]] = (),
    ) -> list[str]:
        from workbench.store.persist import insert_rows, profile_row
        from workbench.store.writer import assemble

        records, _ = assemble(events, session or "default")
        with self.transaction("saving runs"):
            insert_rows(self.conn, records, [profile_row(*p) for p in profiles])
        return [r.run_id for r in records]

    # -- reading (see queries.py) -----------------------------------------------------------------------------
    def list_runs(
        self, limit: int = 20, session: str | None = None, *, filters: RunFilter | None = None, **paging: Any
    ) -> list[dict[str, Any]]:
        """Newest runs first. With `filters` or paging (`before=`, `after=`, `from_end=`, `offset=`,
        `prefix_last=`), one page of the session browser, each row with its `cursor` (see browse.py)."""
        if filters is None and not paging:
            from workbench.store.queries import list_runs

            with self.errors("listing runs"):
                return list_runs(self, limit, session)
        if session is not None:
            filters = replace(filters or RunFilter(), session=session)
        return list_page(self, limit, filters=filters, **paging)

    def count_runs(self, filters: RunFilter | None = None, *, prefix_last: bool = False) -> int:
        """How many runs match `filters` (all runs without)."""
        return count_runs(self, filters, prefix_last=prefix_last)

    def get_run(self, ref: str) -> RunDetail:
        from workbench.store.queries import get_run

        with self.errors("reading"):
            return get_run(self, ref)

    def search(self, text: str, limit: int = 20, *, literal: bool = False) -> list[dict[str, Any]]:
        from workbench.store.queries import search

        return search(self, text, limit, literal=literal)

    def delete_run(self, ref: str) -> dict[str, int]:
        from workbench.store.queries import delete_run

        return delete_run(self, ref)


def save_events(
    store: Store | str | os.PathLike[str] | None,
    events: Iterable[Event],
    *,
    session: str | None = None,
    profiles: Iterable[tuple[str, str, str | None]] = (),
) -> list[str]:
    """Synchronously save the complete runs found in `events` (tests, import of event logs). Returns run ids."""
    if isinstance(store, Store):
        return store.save_events(events, session=session, profiles=profiles)
    with open_store(store) as opened:
        return opened.save_events(events, session=session, profiles=profiles)
