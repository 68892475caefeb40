"""Browsing the saved runs a page at a time, at any depth, with filters: what the TUI's session browser reads.

    rows = list_runs(store, 200, filters=RunFilter(status="error"))             # newest first
    more = list_runs(store, 200, filters=..., before=rows[-1]["cursor"])       # the next (older) page
    back = list_runs(store, 200, filters=..., after=more[0]["cursor"])         # the page before, newest first
    last = list_runs(store, 200, filters=..., from_end=True)                   # the oldest runs, newest first
    total = count_runs(store, RunFilter(route="support", text="refund"))

Paging is by key, not by offset: every row carries an opaque `cursor`, and a page after (or before) a cursor is
one index range scan, so the 90,000th page costs what the first does (migration 8 adds the indexes). Without
`text` runs come newest first by (started_ts, id); with `text` (full-text, FTS5) they come most recently saved
first, by the runs table's rowid, which FTS5 walks in order and stops after `limit` rows (ordering matches by
time instead would sort every match: 30 ms for a common prefix over 100,000 runs, against 0.2 ms).
`offset` is there for a jump into the middle (a scrollbar dragged): it costs O(offset).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.errors import StoreError

if TYPE_CHECKING:
    from workbench.store.store import Store

STATUSES = ("ok", "error", "degraded", "cancelled")
Cursor = tuple[Any, ...]  # (started_ts, id) when listing, (rowid,) when searching


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs to show. Every field is optional; set fields all have to hold (AND)."""

    route: str | None = None
    status: str | None = None  # ok, error, degraded, cancelled (any saved status is accepted)
    model: str | None = None  # a model alias or provider model id used by any hop of the run
    since: float | None = None  # started_ts >= since (epoch seconds)
    until: float | None = None  # started_ts < until
    min_cost: float | None = None  # cost_usd >= min_cost (dollars)
    session: str | None = None
    text: str | None = None  # full-text words (all must match); a word ending in * is a prefix

    def is_empty(self) -> bool:
        return all(getattr(self, f) in (None, "") for f in self.__slots__)


def fts_query(text: str, *, prefix_last: bool = False) -> str:
    """The FTS5 query for words typed by a user: each word matched as itself (operators and punctuation lose their
    meaning), a trailing `*` kept as a prefix search; `prefix_last` makes the last word a prefix (search as you
    type: "refu" finds "refund")."""
    words = text.split()
    out = []
    for n, word in enumerate(words):
        star = word.endswith("*") or (prefix_last and n == len(words) - 1)
        core = word.rstrip("*")
        if not core:
            continue
        out.append('"' + core.replace('"', '""') + '"' + ("*" if star else ""))
    return " ".join(out)


def _where(filters: RunFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("runs.route", filters.route), ("runs.status", filters.status)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if filters.session:
        clauses.append("runs.session = ?")
        params.append(filters.session)
    if filters.since is not None:
        clauses.append("runs.started_ts >= ?")
        params.append(filters.since)
    if filters.until is not None:
        clauses.append("runs.started_ts < ?")
        params.append(filters.until)
    if filters.min_cost is not None:
        clauses.append("runs.cost_usd >= ?")
        params.append(filters.min_cost)
    if filters.model:
        clauses.append(
            "EXISTS (SELECT 1 FROM hops WHERE hops.run_id = runs.id AND (hops.model = ? OR hops.model_id = ?))"
        )
        params.extend((filters.model, filters.model))
    return clauses, params


_COLUMNS = (
    "runs.id, runs.session, runs.route, runs.status, runs.latency_ms, runs.ttft_ms, runs.input_tokens,"
    " runs.output_tokens, runs.cost_usd, runs.cost_exact, runs.started_ts, runs.started_at, runs.hop_count,"
    " substr(runs.prompt, 1, 200) AS prompt, runs.rowid AS rowid_"
)


def _text_query(filters: RunFilter, prefix_last: bool) -> str | None:
    if not filters.text or not filters.text.strip():
        return None
    query = fts_query(filters.text, prefix_last=prefix_last)
    return query or None


def list_runs(
    store: Store,
    limit: int = 200,
    *,
    filters: RunFilter | None = None,
    before: Cursor | None = None,
    after: Cursor | None = None,
    from_end: bool = False,
    offset: int = 0,
    prefix_last: bool = False,
) -> list[dict[str, Any]]:
    """One page of runs, always newest first, each with its `cursor` (see the module docstring).

    `before`: the page of runs older than that cursor; `after`: the page of runs newer than it (the one just
    above); `from_end`: the oldest `limit` runs. `prefix_last`: the text's last word is a prefix.
    """
    if before is not None and after is not None:
        raise ValueError("give before or after, not both")
    filters = filters or RunFilter()
    clauses, params = _where(filters)
    query = _text_query(filters, prefix_last)
    ascending = after is not None or from_end
    if query is not None:
        source = "runs_fts JOIN runs ON runs.rowid = runs_fts.rowid"
        clauses.insert(0, "runs_fts MATCH ?")
        params.insert(0, query)
        key, key_marks = "runs_fts.rowid", "?"
        order = "runs_fts.rowid " + ("ASC" if ascending else "DESC")
    else:
        source = "runs"
        key, key_marks = "(runs.started_ts, runs.id)", "(?, ?)"
        direction = "ASC" if ascending else "DESC"
        order = f"runs.started_ts {direction}, runs.id {direction}"
    if before is not None:
        clauses.append(f"{key} < {key_marks}")
        params.extend(before)
    elif after is not None:
        clauses.append(f"{key} > {key_marks}")
        params.extend(after)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = f"SELECT {_COLUMNS} FROM {source}{where} ORDER BY {order} LIMIT ? OFFSET ?"
    rows = _run(store, sql, (*params, limit, offset), filters)
    for row in rows:
        rowid = row.pop("rowid_")
        row["cursor"] = (rowid,) if query is not None else (row["started_ts"], row["id"])
    if ascending:
        rows.reverse()
    return rows


def count_runs(store: Store, filters: RunFilter | None = None, *, prefix_last: bool = False) -> int:
    """How many runs the filters match."""
    filters = filters or RunFilter()
    clauses, params = _where(filters)
    query = _text_query(filters, prefix_last)
    source = "runs"
    if query is not None:
        source = "runs_fts JOIN runs ON runs.rowid = runs_fts.rowid"
        clauses.insert(0, "runs_fts MATCH ?")
        params.insert(0, query)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = _run(store, f"SELECT count(*) AS n FROM {source}{where}", tuple(params), filters)
    return int(rows[0]["n"])


def _run(store: Store, sql: str, params: tuple[Any, ...], filters: RunFilter) -> list[dict[str, Any]]:
    try:
        cur = store.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    except sqlite3.OperationalError as exc:
        if filters.text and str(exc).startswith("fts5:"):
            raise StoreError(
                f"the search {filters.text!r} is not a valid full-text query ({exc})",
                hint="search words as typed; a word ending in * is a prefix",
                title="search syntax",
            ) from None
        from workbench.store.db import store_error

        raise store_error(exc, store.path, "listing runs") from None
    except sqlite3.Error as exc:
        from workbench.store.db import store_error

        raise store_error(exc, store.path, "listing runs") from None
