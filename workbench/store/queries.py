"""Reading the store: newest runs, one run with its hop tree, full-text search, and deleting a run.

Run references accept a full id, `last` (the newest run), or a unique start or end of an id (ids are long;
`sessions list` shows them whole); one matching several runs is refused with the candidates listed.
Search uses the `runs_fts` FTS5 index; snippets mark matches with HIGHLIGHT_START/HIGHLIGHT_END (control
characters that never occur in prompts), which the CLI turns into styling.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.errors import StoreError

if TYPE_CHECKING:
    from workbench.store.store import Store

HIGHLIGHT_START = "\x02"
HIGHLIGHT_END = "\x03"
LIST_COLUMNS = (
    "id",
    "session",
    "route",
    "status",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cost_exact",
    "started_ts",
    "started_at",
    "hop_count",
)


class UnknownRunError(StoreError):
    title = "unknown run"


@dataclass(slots=True)
class RunDetail:
    run: dict[str, Any]
    hops: list[dict[str, Any]]  # in the order they started
    messages: list[dict[str, Any]]
    decisions: list[dict[str, Any]]


def _rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cur = store.conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=False)) for row in cur.fetchall()]


def list_runs(store: Store, limit: int = 20, session: str | None = None) -> list[dict[str, Any]]:
    cols = ", ".join(LIST_COLUMNS)
    where, params = ("WHERE session = ?", (session,)) if session else ("", ())
    return _rows(
        store,
        f"SELECT {cols}, substr(prompt, 1, 200) AS prompt FROM runs {where} ORDER BY started_ts DESC, id DESC LIMIT ?",
        (*params, limit),
    )


#: the run reference that names the newest run (an id spelled so is matched first)
LAST = "last"


def resolve_run_id(store: Store, ref: str) -> str:
    """The id of the run `ref` names: its full id, `last` (the newest run), or a unique start or end of an id
    (runs made close together share their first characters: the last ones tell them apart). A reference that
    matches several runs is an UnknownRunError (exit 2) listing them; none, one saying so."""
    ref = ref.strip()
    if not ref:
        raise UnknownRunError("no run id given", hint="see `workbench sessions list` for run ids")
    if store.conn.execute("SELECT 1 FROM runs WHERE id = ?", (ref,)).fetchone():
        return ref
    if ref == LAST:
        newest = store.conn.execute("SELECT id FROM runs ORDER BY started_ts DESC, id DESC LIMIT 1").fetchone()
        if newest is None:
            raise UnknownRunError(f"no runs saved in {store.path} yet, so no last run")
        return str(newest[0])
    escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    sql = "SELECT id, started_at, substr(prompt, 1, 50) FROM runs WHERE id LIKE ? ESCAPE '\\'"
    sql += " ORDER BY started_ts DESC LIMIT 6"
    # Ids share long time prefixes (runs started close together), so a short unique *suffix* names a run too.
    found = store.conn.execute(sql, (escaped + "%",)).fetchall()
    if len(found) != 1:
        by_suffix = store.conn.execute(sql, ("%" + escaped,)).fetchall()
        if len(by_suffix) == 1 or not found:
            found = by_suffix
    if len(found) == 1:
        return str(found[0][0])
    if not found:
        raise UnknownRunError(
            f"no run with id {ref!r} in {store.path}", hint="see `workbench sessions list` (or `search`) for run ids"
        )
    lines = [f"  {rid}  {started or ''}  {' '.join((prompt or '').split())}" for rid, started, prompt in found[:5]]
    more = ["  ..."] if len(found) > 5 else []
    raise UnknownRunError(
        "\n".join([f"{ref!r} matches several runs in {store.path}:", *lines, *more]),
        hint="give more of the id, or its last characters (a unique suffix works too)",
    )


def get_run(store: Store, ref: str) -> RunDetail:
    run_id = resolve_run_id(store, ref)
    run = _rows(store, "SELECT * FROM runs WHERE id = ?", (run_id,))[0]
    hops = _rows(store, "SELECT * FROM hops WHERE run_id = ? ORDER BY seq", (run_id,))
    messages = _rows(store, "SELECT * FROM messages WHERE run_id = ? ORDER BY seq", (run_id,))
    decisions = _rows(store, "SELECT * FROM decisions WHERE run_id = ? ORDER BY seq", (run_id,))
    return RunDetail(run, hops, messages, decisions)


def literal_query(text: str) -> str:
    """Each word searched as itself: FTS5 operators and punctuation lose their meaning."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in text.split())


def search(store: Store, text: str, limit: int = 20, *, literal: bool = False) -> list[dict[str, Any]]:
    query = literal_query(text) if literal else text
    if not query.strip():
        raise StoreError("the search text is empty", hint='e.g. workbench sessions search "refund policy"')
    sql = (
        "SELECT runs.id, runs.session, runs.route, runs.status, runs.started_ts, runs.started_at, runs.cost_usd,"
        f" snippet(runs_fts, 0, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', 12) AS prompt_snippet,"
        f" snippet(runs_fts, 1, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', 16) AS output_snippet"
        " FROM runs_fts JOIN runs ON runs.rowid = runs_fts.rowid"
        " WHERE runs_fts MATCH ? ORDER BY rank LIMIT ?"
    )
    try:
        return _rows(store, sql, (query, limit))
    except sqlite3.OperationalError as exc:
        msg = str(exc)
        if msg.startswith(("fts5:", "no such column", "unknown special query", "unterminated string")):
            raise StoreError(
                f"the search {text!r} is not a valid full-text query ({msg})",
                hint='put words with punctuation in double quotes (e.g. "gpt-4o"), or use --literal to search the'
                " words as typed; AND, OR, NOT, NEAR() and prefix* are operators",
                title="search syntax",
            ) from None
        from workbench.store.db import store_error

        raise store_error(exc, store.path, "searching") from None
    except sqlite3.Error as exc:
        from workbench.store.db import store_error

        raise store_error(exc, store.path, "searching") from None


def delete_run(store: Store, ref: str) -> dict[str, Any]:
    """Delete a run with its hops, messages and decisions (profiles and sessions stay). Returns row counts."""
    store.require_writable("deleting a run")
    with store.errors("reading"):
        run_id = resolve_run_id(store, ref)
    counts: dict[str, Any] = {"id": run_id}
    with store.transaction(f"deleting run {run_id}") as conn:
        for table in ("decisions", "messages", "hops"):
            counts[table] = conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,)).rowcount
        counts["runs"] = conn.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount
    return counts
