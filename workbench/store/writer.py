"""EventWriter: the store's subscription to the engine's event stream.

    writer = EventWriter("sessions/workbench.db", session="tuning", profile=loaded)  # StoreError if unusable
    async for event in engine.run(prompt):
        writer.submit(event)        # synchronous, thread-safe, never blocks: a queue put
    writer.close()                  # flushes; StoreError if some runs could not be saved (they are kept aside)

A background thread owns its own sqlite connection. It buffers each run's events in memory and, when the run
finishes, turns it into rows; it then commits every run finished so far in one transaction (one run when they
trickle in, hundreds when they pour in). A run therefore reaches the database whole or not at all: a crash
never leaves half a run. Token events are not stored one by one (the hop's output text is).

Failures never kill the thread and never reach the caller's event loop. Each is reported as a StoreError in
`writer.errors` (and to `on_error`, called from the writer thread). Runs that could not be written because the
database was locked, read-only, full or damaged stay queued and are retried with back-off; if they are still
unsaved at `close()`, they are written to a JSONL file beside the database (the `sessions export` format, so
`workbench sessions import FILE` brings them in) and `close()` raises a StoreError naming it.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from workbench.engine.events import Event, RunFinished, RunStarted
from workbench.errors import StoreError
from workbench.store.db import default_busy_timeout, resolve_db_path, store_error
from workbench.store.persist import profile_row, write_batch
from workbench.store.records import RunAssembler, RunRecord

DEFAULT_SESSION = "default"
#: runs begun and not yet finished that the writer keeps assembling. A run whose consumer walked away (closed the
#: engine's generator: a client that hung up) never sends `run_finished`; past this many open runs the one that
#: has been silent longest is dropped (with a notice), so a writer that lives for days does not keep them all.
#: A live run is dropped only when this many other runs were more recently active at once (the engine's own
#: limit, `engine.max_concurrent_runs`, is 64 by default).
MAX_OPEN_RUNS = 4096
#: notices and errors kept (the newest): one per dropped, inconsistent or unsavable run would otherwise grow with
#: every such run (`on_error` still hears of every error)
MAX_NOTICES = 100
_DRAIN_MAX = 20_000  # events handled between two write attempts when they pour in
# Errors a later retry may cure (the other process lets go, the user frees space or fixes permissions).
_TRANSIENT = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_READONLY",
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
)


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop:
    __slots__ = ("deadline",)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline


class _Control:
    __slots__ = ("kind", "args")

    def __init__(self, kind: str, *args: Any) -> None:
        self.kind, self.args = kind, args


def assemble(events: Iterable[Event], session: str) -> tuple[list[RunRecord], int]:
    """Complete runs in `events` as records, and how many runs never finished (those are dropped)."""
    building: dict[str, RunAssembler] = {}
    records: list[RunRecord] = []
    for event in events:
        if isinstance(event, RunStarted):
            building[event.run_id] = RunAssembler(event, session)
        elif isinstance(event, RunFinished):
            asm = building.pop(event.run_id, None)
            if asm is not None:
                records.append(asm.finish(event))
        else:
            asm = building.get(event.run_id)
            if asm is not None:
                asm.add(event)
    return records, len(building)


class EventWriter:
    def __init__(
        self,
        db: str | Path | None = None,
        *,
        session: str | None = None,
        profile: Any = None,
        busy_timeout: float | None = None,
        on_error: Callable[[StoreError], None] | None = None,
        max_batch_runs: int = 1000,
        retry_interval: float = 0.25,
        max_open_runs: int | None = None,
    ) -> None:
        """Open (create, migrate) the database in the writer thread; raise its StoreError here if that fails.

        `profile`: a LoadedProfile (anything with sha256, text, path) to register at once.
        """
        self.path = resolve_db_path(db)
        self.busy_timeout = default_busy_timeout() if busy_timeout is None else busy_timeout
        self.on_error = on_error
        self.max_batch_runs = max_batch_runs
        self.retry_interval = retry_interval
        self.max_open_runs = MAX_OPEN_RUNS if max_open_runs is None else max_open_runs
        self.dropped = 0  # open runs given up on (never finished, silent longest; see MAX_OPEN_RUNS)
        self.errors: list[StoreError] = []
        self.notices: list[str] = []
        self.saved = 0  # runs committed
        self.rescue_file: Path | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._session = session or DEFAULT_SESSION
        self._closed = False
        self._open_error: BaseException | None = None
        self._ready = threading.Event()
        self._unsaved: list[RunRecord] = []  # given up on (duplicate id...), rescued at close
        self._profiles: dict[str, tuple[Any, ...]] = {}  # registered, not yet committed
        self._known_profiles: dict[str, tuple[Any, ...]] = {}  # every one registered: a rescue file needs them
        # runs begun and not finished, least recently active first (the writer thread's; read `open_runs`)
        self._building: dict[str, RunAssembler] = {}
        self._thread = threading.Thread(target=self._main, name=f"workbench-store-writer:{self.path.name}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            self._closed = True
            err = self._open_error
            if isinstance(err, StoreError):
                raise err
            raise StoreError(f"cannot open the session database {self.path}: {err}")
        if profile is not None:
            self.register_profile(profile.sha256, profile.text, str(profile.path) if profile.path else None)

    # -- the caller's side: cheap and non-blocking ----------------------------------------------------------
    def submit(self, event: Event) -> None:
        """Queue an event. Never blocks, never raises for database trouble (see `errors`)."""
        if self._closed:
            raise StoreError(f"the writer for {self.path} is closed; the event for run {event.run_id} was not saved")
        self._queue.put(event)

    def register_profile(self, sha256: str, text: str, path: str | None = None) -> None:
        """The exact profile text runs refer to by `profile_hash` (stored once per hash)."""
        self._queue.put(_Control("profile", sha256, text, path))

    def set_session(self, name: str) -> None:
        """File runs that start after this call under session `name`."""
        self._queue.put(_Control("session", name))

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every run finished before this call is committed (or reported as failed).
        False when `timeout` passed first (e.g. the database is still locked by another process)."""
        if self._closed or not self._thread.is_alive():
            return not self._thread.is_alive()
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flush, stop the thread, close its connection. Raises StoreError if runs could not be saved (after
        writing them to `rescue_file`)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_Stop(time.monotonic() + timeout))
        self._thread.join(timeout + self.busy_timeout + 5.0)
        if self._unsaved:
            self._rescue()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self.close()
        except StoreError:
            if exc_type is None:
                raise  # an exception already on its way out wins; the failure stays in `errors`

    @property
    def open_runs(self) -> int:
        """Runs begun and not yet finished that the writer is assembling (at most `max_open_runs`)."""
        return len(self._building)

    def _note(self, notice: str) -> None:
        notices = self.notices
        notices.append(notice)
        if len(notices) > MAX_NOTICES:
            del notices[: len(notices) - MAX_NOTICES]

    # -- the writer thread ------------------------------------------------------------------------------------
    def _report(self, err: StoreError) -> None:
        if self.errors and self.errors[-1].message == err.message:
            return  # the same trouble again on a retry: said once is enough
        errors = self.errors
        errors.append(err)
        if len(errors) > MAX_NOTICES:
            del errors[: len(errors) - MAX_NOTICES]
        if self.on_error is not None:
            try:
                self.on_error(err)
            except Exception:  # noqa: BLE001 - a faulty callback must not stop the saving
                pass

    def _main(self) -> None:
        from workbench.store.store import open_connection

        try:
            conn = open_connection(self.path, busy_timeout=self.busy_timeout)
        except BaseException as exc:  # noqa: BLE001 - handed to the constructor, which raises it in the caller's thread
            self._open_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(conn)
        finally:
            conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        building = self._building
        ready: list[RunRecord] = []
        waiters: list[threading.Event] = []
        get, get_nowait = self._queue.get, self._queue.get_nowait
        stop: _Stop | None = None
        failures = 0
        while True:
            backlog = bool(ready) or bool(self._profiles)
            backoff = min(self.retry_interval * (2 ** min(failures, 4)), 4.0)
            items: list[Any] = []
            if stop is None:
                try:
                    items.append(get(timeout=backoff if backlog else None))
                except queue.Empty:
                    pass
            elif backlog:  # closing with runs still unsaved: retry until the deadline
                time.sleep(max(0.0, min(backoff, stop.deadline - time.monotonic())))
            while len(items) < _DRAIN_MAX:
                try:
                    items.append(get_nowait())
                except queue.Empty:
                    break
            for item in items:
                try:
                    if isinstance(item, Event):
                        self._on_event(item, building, ready)
                    elif isinstance(item, _Flush):
                        waiters.append(item.done)
                    elif isinstance(item, _Stop):
                        stop = item
                    elif isinstance(item, _Control):
                        if item.kind == "profile":
                            sha, text, path = item.args
                            self._profiles[sha] = self._known_profiles[sha] = profile_row(sha, text, path)
                        elif item.kind == "session":
                            self._session = item.args[0]
                except Exception as exc:  # noqa: BLE001 - a malformed event must not stop the thread
                    what = f"a {item.type} event of run {item.run_id}" if isinstance(item, Event) else repr(item)
                    lost = "that run was not saved" if isinstance(item, RunFinished) else "the event was skipped"
                    self._report(StoreError(f"the writer for {self.path} could not handle {what} ({exc!r}); {lost}"))
            if ready or self._profiles:
                try:
                    failures = 0 if self._write(conn, ready) else failures + 1
                except Exception as exc:  # noqa: BLE001 - a bug must cost its batch, not the thread (and every later run)
                    self._report(StoreError(f"the writer for {self.path} failed on {len(ready)} run(s): {exc!r}"))
                    self._unsaved.extend(ready)
                    ready.clear()
            if not ready and not self._profiles:
                for done in waiters:
                    done.set()
                waiters.clear()
            if stop is not None and (not (ready or self._profiles) or stop.deadline <= time.monotonic()):
                break
        self._unsaved.extend(ready)
        if building:
            self._note(f"{len(building)} run(s) had not finished when the writer closed; not saved")
        for done in waiters:
            done.set()

    def _on_event(self, event: Event, building: dict[str, RunAssembler], ready: list[RunRecord]) -> None:
        if type(event) is RunStarted:
            building[event.run_id] = RunAssembler(event, self._session)
            while len(building) > self.max_open_runs:  # the run silent longest: most likely abandoned
                run_id = next(iter(building))
                del building[run_id]
                self.dropped += 1
                self._note(f"run {run_id}: no event for the longest of {len(building) + 1} open runs; not saved")
        elif type(event) is RunFinished:
            asm = building.pop(event.run_id, None)
            if asm is None:
                self._note(f"run {event.run_id}: run_finished without run_started; not saved")
                return
            record = asm.finish(event)
            for notice in record.notices:
                self._note(notice)
            ready.append(record)
        else:
            asm = building.pop(event.run_id, None)
            if asm is not None:
                building[event.run_id] = asm  # to the end: the most recently active
                asm.add(event)

    def _write(self, conn: sqlite3.Connection, ready: list[RunRecord]) -> bool:
        """Commit `ready` in batches, removing what was saved. False when a retry later may help."""
        while ready or self._profiles:
            batch = ready[: self.max_batch_runs]
            try:
                write_batch(conn, batch, self._profiles.values())
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.rollback()
                err = store_error(exc, self.path, f"saving {len(batch)} run(s)", busy_timeout=self.busy_timeout)
                name = getattr(exc, "sqlite_errorname", "") or ""
                if name.startswith(_TRANSIENT) or isinstance(exc, sqlite3.OperationalError):
                    self._report(err)
                    return False
                self._isolate(conn, batch)  # one bad run (e.g. a duplicate id) must not sink its batch
                del ready[: len(batch)]
                continue
            except Exception:  # noqa: BLE001 - not SQLite's: find the one run that fails, save the others
                self._isolate(conn, batch)
                del ready[: len(batch)]
                continue
            self._profiles.clear()
            self.saved += len(batch)
            del ready[: len(batch)]
        return True

    def _isolate(self, conn: sqlite3.Connection, batch: list[RunRecord]) -> None:
        for record in batch:
            try:
                write_batch(conn, [record], self._profiles.values())
                self._profiles.clear()
                self.saved += 1
            except Exception as exc:  # noqa: BLE001 - that run stays unsaved (and reported); the others are saved
                self._unsaved.append(record)
                if not isinstance(exc, sqlite3.Error):
                    self._report(StoreError(f"the writer for {self.path} could not save run {record.run_id}: {exc!r}"))
                    continue
                self._report(store_error(exc, self.path, f"saving run {record.run_id}"))

    def _rescued_profiles(self, runs: list[RunRecord]) -> list[tuple[Any, ...]]:
        """The profile rows the rescued runs refer to, so the file imports into any database (a profile committed
        before the disk filled is in this database only). Those this writer did not register are looked up in
        the database, if it can still be read."""
        wanted: set[str] = {sha for r in runs if isinstance(sha := r.run.get("profile_hash"), str)}
        rows = {sha: row for sha, row in self._known_profiles.items() if sha in wanted}
        missing = sorted(wanted - set(rows))
        if missing:
            try:
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
                try:
                    marks = ",".join("?" for _ in missing)
                    for row in conn.execute(
                        f"SELECT sha256, text, path, first_seen_ts FROM profiles WHERE sha256 IN ({marks})", missing
                    ):
                        rows[row[0]] = tuple(row)
                finally:
                    conn.close()
            except sqlite3.Error:
                pass  # unreadable: the file keeps what the writer knows; import names what is missing
        return list(rows.values())

    def _rescue(self) -> None:
        from workbench.store.transfer import write_rescue_file

        runs = self._unsaved
        try:
            self.rescue_file = write_rescue_file(self.path, runs, self._rescued_profiles(runs))
        except OSError as exc:
            raise StoreError(
                f"{len(runs)} run(s) could not be saved to {self.path}, nor kept aside: {exc}",
                hint="; ".join(e.message for e in self.errors[-3:]),
            ) from None
        raise StoreError(
            f"{len(runs)} run(s) could not be saved to {self.path}; they were kept in {self.rescue_file}",
            hint=(self.errors[-1].message + "\n" if self.errors else "")
            + f"once the database is usable: workbench sessions import {self.rescue_file}",
        )
