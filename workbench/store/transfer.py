"""Export and import: every table needed to rebuild the store, as JSON, JSON Lines, or CSV of one table.

JSON:  {"format": "workbench-sessions", "version": 1, "schema": N, "exported_at": ..., "tables": {name: [rows]}}
JSONL: that header (without "tables") on the first line, then one {"table": name, "row": {...}} per line.
Rows hold the columns exactly as stored (exact costs are text, JSON columns are text), so an export imported
into an empty database reproduces every row. Import is idempotent: a run already present is skipped with its
hops, messages and decisions; profiles and sessions are kept when present. Files written here are mode 0600.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from workbench.errors import StoreError
from workbench.store.persist import insert_sql
from workbench.store.records import PRIMARY_KEYS, TABLE_COLUMNS, RunRecord, iso_utc

if TYPE_CHECKING:
    from workbench.store.store import Store

FORMAT_TAG = "workbench-sessions"
FORMAT_VERSION = 1
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
            for name in EXPORT_TABLES:
                counts[name] = 0
                for row in iter_rows(store, name):
                    out.write(_dumps({"table": name, "row": row}) + "\n")
                    counts[name] += 1
            return counts
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


def _parse(path: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"there is no file {path} to import") from None
    except UnicodeDecodeError as exc:
        raise StoreError(f"{path} is not UTF-8 text (byte {exc.start}); expected a json or jsonl export") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in EXPORT_TABLES}
    stripped = text.lstrip()
    whole: Any = None
    if stripped.startswith("{"):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None  # maybe JSON Lines
    if isinstance(whole, dict) and "tables" in whole:
        header = whole
        if not isinstance(whole["tables"], dict):
            raise StoreError(f'{path}: "tables" is not an object')
        for name, rows in whole["tables"].items():
            if name not in tables:
                raise StoreError(f"{path}: unknown table {name!r}", hint=f"tables: {', '.join(EXPORT_TABLES)}")
            if not isinstance(rows, list):
                raise StoreError(f"{path}: table {name!r} is not a list of rows")
            tables[name].extend(rows)
    else:
        header = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise StoreError(
                    f"{path}:{lineno}: not JSON ({exc.msg})",
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
            if not isinstance(obj, dict) or obj.get("table") not in tables or not isinstance(obj.get("row"), dict):
                raise StoreError(
                    f'{path}:{lineno}: expected {{"table": one of {", ".join(EXPORT_TABLES)}, "row": {{...}}}}'
                )
            tables[obj["table"]].append(obj["row"])
    if header.get("format") != FORMAT_TAG:
        raise StoreError(f"{path} is not a workbench sessions export", hint="expected a json or jsonl export")
    if not isinstance(header.get("version"), int) or header["version"] > FORMAT_VERSION:
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
                    f"{path}: row {i + 1} of {name} has unknown column(s) {', '.join(sorted(extra))}",
                    hint="it may come from a newer workbench: upgrade to import it",
                )
            missing = [k for k in PRIMARY_KEYS[name] if row.get(k) is None]
            if missing:
                raise StoreError(f"{path}: row {i + 1} of {name} has no {', '.join(missing)}")
    return header, tables


def import_file(store: Store, path: Path) -> dict[str, int]:
    """Import an export; returns {"runs": added, "skipped": already present, <table>: rows added...}."""
    store.require_writable("importing")
    _, tables = _parse(path)
    counts = {name: 0 for name in EXPORT_TABLES}
    with store.transaction(f"importing {path}") as conn:
        for name in ("profiles", "sessions"):
            counts[name] = _insert(conn, name, tables[name], "INSERT OR IGNORE")
        ids = [row["id"] for row in tables["runs"]]
        present = _present_ids(conn, ids)
        new_runs = [row for row in tables["runs"] if row["id"] not in present]
        fresh = {row["id"] for row in new_runs}
        if len(fresh) != len(new_runs):
            raise StoreError(f"{path} holds the same run id twice")
        counts["runs"] = _insert(conn, "runs", new_runs, "INSERT")
        for name in RUN_CHILDREN:
            counts[name] = _insert(conn, name, [r for r in tables[name] if r["run_id"] in fresh], "INSERT OR IGNORE")
    counts["skipped"] = len(present)
    return counts


def _present_ids(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    present: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" for _ in chunk)
        present.update(r[0] for r in conn.execute(f"SELECT id FROM runs WHERE id IN ({marks})", chunk))
    return present


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]], verb: str) -> int:
    if not rows:
        return 0
    cols = TABLE_COLUMNS[table]
    before = conn.total_changes
    try:
        conn.executemany(insert_sql(table, cols, verb), [tuple(row.get(c) for c in cols) for row in rows])
    except sqlite3.IntegrityError as exc:
        raise StoreError(
            f"a {table} row in the import breaks a rule of the schema ({exc}); nothing was imported"
        ) from None
    # total_changes also counts FTS trigger writes for runs; count the rows ourselves there
    return len(rows) if table == "runs" else conn.total_changes - before


# -- keeping unsaved runs aside -----------------------------------------------------------------------------------


def write_rescue_file(db_path: Path, records: list[RunRecord], profiles: Iterable[tuple[Any, ...]]) -> Path:
    """Write runs the writer could not save as an importable JSONL export; returns its path."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    name = f"{db_path.name}.unsaved-{stamp}-{os.getpid()}.jsonl"
    buf = io.StringIO()
    buf.write(
        _dumps(
            {
                "format": FORMAT_TAG,
                "version": FORMAT_VERSION,
                "schema": None,
                "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
        + "\n"
    )
    for prof in profiles:
        buf.write(_dumps({"table": "profiles", "row": dict(zip(TABLE_COLUMNS["profiles"], prof, strict=False))}) + "\n")
    now = time.time()
    for session in sorted({r.run["session"] for r in records}):
        row = {"name": session, "created_ts": now, "created_at": iso_utc(now), "notes": None, "profile_hash": None}
        buf.write(_dumps({"table": "sessions", "row": row}) + "\n")
    for rec in records:
        buf.write(_dumps({"table": "runs", "row": rec.run}) + "\n")
        for table, rows in (("hops", rec.hops), ("messages", rec.messages), ("decisions", rec.decisions)):
            for row in rows:
                buf.write(_dumps({"table": table, "row": row}) + "\n")
    last: OSError | None = None
    for folder in (db_path.parent, Path.cwd(), Path(tempfile.gettempdir())):
        target = folder / name
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            last = exc
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(buf.getvalue())
        return target
    assert last is not None
    raise last
