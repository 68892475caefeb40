"""Export and import: every table needed to rebuild the store, as JSON, JSON Lines, or CSV of one table.

JSON:  {"format": "workbench-sessions", "version": 2, "schema": N, "exported_at": ..., "tables": {name: [rows]}}
JSONL: that header (without "tables") on the first line, then one {"table": name, "row": {...}} per line —
profiles, sessions, then each run followed by its own hops, messages and decisions — and last an end line
{"end": {table: rows}}; a file without it was cut short. Rows hold the columns exactly as stored (exact costs
are text, JSON columns are text), so an export imported into an empty database reproduces every row.

Import checks every row against the schema and every run against the store's invariants (see import_check)
and imports each run whole or not at all, reporting what it rejected and why. A run already present is skipped,
unless the file holds rows of it the database lacks (an earlier import of a cut-short file): those are filled
in. Profiles and sessions are kept when present. Files written here are mode 0600.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from workbench.errors import StoreError
from workbench.store.import_check import check_row, check_run, printable
from workbench.store.persist import insert_sql
from workbench.store.records import PRIMARY_KEYS, TABLE_COLUMNS, RunRecord, iso_utc

if TYPE_CHECKING:
    from workbench.store.store import Store

FORMAT_TAG = "workbench-sessions"
FORMAT_VERSION = 2  # 2: JSON Lines groups each run with its rows and ends with an end line
EXPORT_TABLES = ("profiles", "sessions", "runs", "hops", "messages", "decisions")
RUN_CHILDREN = ("hops", "messages", "decisions")


def open_private(path: Path) -> IO[str]:
    """A new or truncated text file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def iter_rows(store: Store, table: str) -> Iterator[dict[str, Any]]:
    cols = TABLE_COLUMNS[table]
    order = ", ".join(f'"{c}"' for c in PRIMARY_KEYS[table])
    cur = store.conn.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}" ORDER BY {order}')
    for row in cur:
        yield dict(zip(cols, row, strict=False))


def _grouped_rows(store: Store) -> Iterator[tuple[str, dict[str, Any]]]:
    """Profiles, sessions, then each run followed by its hops, messages and decisions (one merge over cursors
    ordered by run id), then any row whose run is gone. A file cut short so loses at most its last run, and
    the importer can tell which one."""
    for name in ("profiles", "sessions"):
        for row in iter_rows(store, name):
            yield name, row
    children = {name: iter_rows(store, name) for name in RUN_CHILDREN}
    heads: dict[str, dict[str, Any] | None] = {name: next(it, None) for name, it in children.items()}
    for run in iter_rows(store, "runs"):
        run_id = run["id"]
        yield "runs", run
        for name, it in children.items():
            head = heads[name]
            while head is not None and head["run_id"] <= run_id:
                yield name, head  # (a run_id below this run's: an orphan row, kept so nothing is lost)
                head = next(it, None)
            heads[name] = head
    for name, it in children.items():
        head = heads[name]
        while head is not None:
            yield name, head
            head = next(it, None)


def _header(store: Store) -> dict[str, Any]:
    return {
        "format": FORMAT_TAG,
        "version": FORMAT_VERSION,
        "schema": store.schema_version(),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def export(store: Store, fmt: str, out: IO[str], *, table: str = "runs") -> dict[str, int]:
    """Write the store to `out`; returns rows written per table."""
    counts: dict[str, int] = {}
    with store.errors("exporting"):
        if fmt == "csv":
            if table not in TABLE_COLUMNS:
                raise StoreError(f"unknown table {table!r} for CSV export", hint=f"tables: {', '.join(EXPORT_TABLES)}")
            writer = csv.writer(out)
            writer.writerow(TABLE_COLUMNS[table])
            n = 0
            for row in iter_rows(store, table):
                writer.writerow(["" if v is None else v for v in row.values()])
                n += 1
            return {table: n}
        header = _header(store)
        if fmt == "jsonl":
            out.write(_dumps(header) + "\n")
            for name, row in _grouped_rows(store):
                out.write(_dumps({"table": name, "row": row}) + "\n")
                counts[name] = counts.get(name, 0) + 1
            out.write(_dumps({"end": {name: counts.get(name, 0) for name in EXPORT_TABLES}}) + "\n")
            return {name: counts.get(name, 0) for name in EXPORT_TABLES}
        if fmt != "json":
            raise StoreError(f"unknown export format {fmt!r}", hint="formats: json, jsonl, csv")
        out.write(_dumps(header)[:-1] + ',"tables":{')
        for i, name in enumerate(EXPORT_TABLES):
            out.write(("," if i else "") + _dumps(name) + ":[")
            counts[name] = 0
            for j, row in enumerate(iter_rows(store, name)):
                out.write(("," if j else "") + "\n" + _dumps(row))
                counts[name] += 1
            out.write("]")
        out.write("}}\n")
    return counts


# -- import -------------------------------------------------------------------------------------------------------

#: the largest export this reads (it is read whole): far above any real store, far below memory exhaustion
MAX_IMPORT_BYTES = 4 * 1024**3


def _read_text(path: Path) -> str:
    """The file's text, refusing what is not a regular file (a device, a FIFO) and what is too large."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise StoreError(
                    f"{path} is not a regular file; expected a json or jsonl export",
                    hint="import reads files written by `workbench sessions export`",
                )
            if info.st_size > MAX_IMPORT_BYTES:
                raise StoreError(f"{path} is {info.st_size:,} bytes, more than the {MAX_IMPORT_BYTES:,} import limit")
            data = fh.read(MAX_IMPORT_BYTES + 1)
    except FileNotFoundError:
        raise StoreError(f"there is no file {path} to import") from None
    except IsADirectoryError:
        raise StoreError(f"{path} is a directory; expected a json or jsonl export") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{path} is not UTF-8 text (byte {exc.start}); expected a json or jsonl export") from None


def _parse(path: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], bool]:
    """(header, rows per table, complete). `complete` is False for a JSON Lines export of format 2 or later that
    stops before its end line (cut short: its last run may be missing rows)."""
    text = _read_text(path)
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in EXPORT_TABLES}
    stripped = text.lstrip()
    whole: Any = None
    ended = False
    if stripped.startswith("{"):
        try:
            whole = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            whole = None  # maybe JSON Lines
    if isinstance(whole, dict) and "tables" in whole:
        header = whole
        ended = True
        if not isinstance(whole["tables"], dict):
            raise StoreError(f'{path}: "tables" is not an object')
        for name, rows in whole["tables"].items():
            if name not in tables:
                raise StoreError(
                    f"{path}: unknown table {printable(repr(name))}", hint=f"tables: {', '.join(EXPORT_TABLES)}"
                )
            if not isinstance(rows, list):
                raise StoreError(f"{path}: table {name!r} is not a list of rows")
            tables[name].extend(rows)
    else:
        header = {}
        lines = text.splitlines()
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if ended:
                raise StoreError(f"{path}:{lineno}: a line after the end line")
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                if lineno == len(lines) and header and not text.endswith("\n"):
                    break  # the last line was cut in the middle: the file is incomplete (reported per run)
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                raise StoreError(
                    f"{path}:{lineno}: not JSON ({msg})",
                    hint="expected a file written by `workbench sessions export` (json or jsonl)",
                ) from None
            if not header:
                if not isinstance(obj, dict) or obj.get("format") != FORMAT_TAG:
                    raise StoreError(
                        f"{path}:{lineno}: not a workbench sessions export (no header line)",
                        hint="expected a file written by `workbench sessions export` (json or jsonl)",
                    )
                header = obj
                continue
            if isinstance(obj, dict) and set(obj) == {"end"}:
                ended = True
                continue
            if not isinstance(obj, dict) or obj.get("table") not in tables or not isinstance(obj.get("row"), dict):
                raise StoreError(
                    f'{path}:{lineno}: expected {{"table": one of {", ".join(EXPORT_TABLES)}, "row": {{...}}}}'
                )
            tables[obj["table"]].append(obj["row"])
    if header.get("format") != FORMAT_TAG:
        raise StoreError(f"{path} is not a workbench sessions export", hint="expected a json or jsonl export")
    version = header.get("version")
    if type(version) is not int or version > FORMAT_VERSION:
        raise StoreError(
            f"{path} was exported by a newer version of workbench (format {header.get('version')})",
            hint="upgrade workbench to import it",
        )
    for name, rows in tables.items():
        known = set(TABLE_COLUMNS[name])
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise StoreError(f"{path}: row {i + 1} of {name} is not an object")
            extra = set(row) - known
            if extra:
                raise StoreError(
                    f"{path}: row {i + 1} of {name} has unknown column(s) {printable(', '.join(sorted(extra)))}",
                    hint="it may come from a newer workbench: upgrade to import it",
                )
    # Format 1 had no end line: its completeness is judged per run only (hop count, prompt message).
    return header, tables, ended or version < 2


def import_file(store: Store, path: Path) -> dict[str, Any]:
    """Import an export, each run whole or not at all.

    Returns {"runs": added, "skipped": already present and complete, "completed": present runs whose missing
    rows this import filled in, <table>: rows added, "rejected": [reason, ...]}. A run is rejected (with every
    row of it) when any of its rows breaks the schema or the store's invariants, or when the file was cut short
    inside it; a later import of the complete file adds it."""
    store.require_writable("importing")
    _, tables, complete = _parse(path)
    counts: dict[str, Any] = {name: 0 for name in EXPORT_TABLES}
    counts["completed"] = 0
    rejected: list[str] = []
    by_run: dict[str, dict[str, list[dict[str, Any]]]] = {}
    runs: dict[str, dict[str, Any]] = {}
    for row in tables["runs"]:
        run_id = row.get("id")
        if not isinstance(run_id, str) or not run_id:
            rejected.append(f"a run row without an id: {check_row('runs', row) or 'id is missing'}")
            continue
        if run_id in runs:
            rejected.append(f"run {printable(run_id)}: the file holds it twice")
            runs[run_id] = {}
            continue
        by_run[run_id] = {name: [] for name in RUN_CHILDREN}  # (its rows are its own, even when it is rejected)
        if printable(run_id) != run_id:  # an id that cannot be UTF-8 cannot even be looked up
            rejected.append(f"run {printable(run_id)}: {check_row('runs', {'id': run_id})}; not imported")
            runs[run_id] = {}
            continue
        runs[run_id] = row
    orphans: dict[str, int] = {}
    for name in RUN_CHILDREN:
        for row in tables[name]:
            run_id = row.get("run_id")
            if isinstance(run_id, str) and run_id in by_run:
                by_run[run_id][name].append(row)
            else:
                orphans[name] = orphans.get(name, 0) + 1
    for name, n in orphans.items():
        rejected.append(f"{n} {name} row(s) belong to no run in the file (orphans): not imported")
    last_run = tables["runs"][-1].get("id") if tables["runs"] and not complete else None

    conn = store.conn
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = ON")  # a run must name a session and a profile that exist
    try:
        with store.transaction(f"importing {path}") as conn:
            for name in ("profiles", "sessions"):
                for row in tables[name]:
                    key = row.get(PRIMARY_KEYS[name][0])
                    problem = check_row(name, row)
                    if problem is None:
                        try:
                            counts[name] += _insert(conn, name, [row], "INSERT OR IGNORE")
                        except sqlite3.IntegrityError as exc:
                            problem = f"breaks a rule of the schema ({exc})"
                    if problem is not None:
                        rejected.append(f"{name[:-1]} {key!r}: {problem}; not imported")
            present = _present_ids(conn, [run_id for run_id, run in runs.items() if run])
            for run_id, run in runs.items():
                if not run:
                    continue  # held twice: reported above
                children = by_run[run_id]
                if run_id == last_run:
                    rejected.append(
                        f"run {printable(run_id)}: the file was cut short inside it (no end line); not imported"
                    )
                    continue
                problem = check_run(run, children["hops"], children["messages"], children["decisions"])
                if problem is not None:
                    rejected.append(f"run {printable(run_id)}: {problem}; not imported")
                    continue
                conn.execute("SAVEPOINT import_run")
                try:
                    if run_id in present:
                        added = _fill_in(conn, run_id, children)
                        if any(added.values()):
                            counts["completed"] += 1
                    else:
                        counts["runs"] += _insert(conn, "runs", [run], "INSERT")
                        added = {name: _insert(conn, name, rows, "INSERT") for name, rows in children.items()}
                    for name, n in added.items():
                        counts[name] += n
                except sqlite3.IntegrityError as exc:
                    conn.execute("ROLLBACK TO import_run")
                    rejected.append(f"run {printable(run_id)}: breaks a rule of the schema ({exc}); not imported")
                finally:
                    conn.execute("RELEASE import_run")
    finally:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    counts["skipped"] = len(present) - counts["completed"]
    counts["rejected"] = rejected
    return counts


def _fill_in(conn: sqlite3.Connection, run_id: str, children: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Add the rows of a run already present that the database lacks (an earlier import of a cut-short file)."""
    added: dict[str, int] = {}
    for name, rows in children.items():
        key = PRIMARY_KEYS[name][1]
        have = {r[0] for r in conn.execute(f'SELECT "{key}" FROM "{name}" WHERE run_id = ?', (run_id,))}
        missing = [row for row in rows if row[key] not in have]
        added[name] = _insert(conn, name, missing, "INSERT")
    if any(added.values()):
        hops = conn.execute("SELECT count(*) FROM hops WHERE run_id = ?", (run_id,)).fetchone()[0]
        conn.execute("UPDATE runs SET hop_count = max(coalesce(hop_count, 0), ?) WHERE id = ?", (hops, run_id))
    return added


def _present_ids(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    present: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" for _ in chunk)
        present.update(r[0] for r in conn.execute(f"SELECT id FROM runs WHERE id IN ({marks})", chunk))
    return present


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]], verb: str) -> int:
    """Insert `rows`; an IntegrityError propagates (the caller rolls the run back)."""
    if not rows:
        return 0
    cols = TABLE_COLUMNS[table]
    before = conn.total_changes
    conn.executemany(insert_sql(table, cols, verb), [tuple(row.get(c) for c in cols) for row in rows])
    # total_changes also counts FTS trigger writes for runs; count the rows ourselves there
    return len(rows) if table == "runs" else conn.total_changes - before


# -- keeping unsaved runs aside -----------------------------------------------------------------------------------


def _rescue_line(obj: Any) -> bytes:
    """One JSON line as UTF-8. Text that cannot be UTF-8 (a lone surrogate, e.g. from undecodable input) is kept
    as a JSON escape: the line stays valid, and the importer reports that run instead of failing the file."""
    try:
        return (_dumps(obj) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(obj, ensure_ascii=True, separators=(",", ":"), default=str) + "\n").encode("ascii")


def write_rescue_file(db_path: Path, records: list[RunRecord], profiles: Iterable[tuple[Any, ...]]) -> Path:
    """Write runs the writer could not save as an importable JSONL export; returns its path.

    The whole file is encoded before any is created, and a file that cannot be written whole (a full disk) is
    removed before the next folder is tried: no empty or partial rescue file is ever left behind."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    name = f"{db_path.name}.unsaved-{stamp}-{os.getpid()}.jsonl"
    lines = [
        _rescue_line(
            {
                "format": FORMAT_TAG,
                "version": FORMAT_VERSION,
                "schema": None,
                "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
    ]
    for prof in profiles:
        lines.append(
            _rescue_line({"table": "profiles", "row": dict(zip(TABLE_COLUMNS["profiles"], prof, strict=False))})
        )
    now = time.time()
    for session in sorted({r.run["session"] for r in records}):
        row = {"name": session, "created_ts": now, "created_at": iso_utc(now), "notes": None, "profile_hash": None}
        lines.append(_rescue_line({"table": "sessions", "row": row}))
    for rec in records:
        lines.append(_rescue_line({"table": "runs", "row": rec.run}))
        for table, rows in (("hops", rec.hops), ("messages", rec.messages), ("decisions", rec.decisions)):
            for row in rows:
                lines.append(_rescue_line({"table": table, "row": row}))
    lines.append(_rescue_line({"end": {"runs": len(records)}}))
    data = b"".join(lines)
    last: OSError | None = None
    for folder in (db_path.parent, Path.cwd(), Path(tempfile.gettempdir())):
        target = folder / name
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            last = exc
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            last = exc
            target.unlink(missing_ok=True)
            continue
        return target
    assert last is not None
    raise last
