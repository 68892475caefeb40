"""Versioned schema migrations for the session database (after simonw/llm's logs.db approach).

Each migration is a small function registered with a unique number and a name. `migrate()` applies the missing
ones in order, all inside one `BEGIN IMMEDIATE` transaction (so two instances opening a fresh file at once
cannot both create tables), records each in the `migrations` table, and mirrors the newest number into
`PRAGMA user_version` for other tools. A migration, once released, never changes: a schema change is a new
migration. A database whose recorded migrations are unknown to this code (written by a newer workbench) is
refused before anything is written.

Tables (see `workbench/store/QUERIES.md` for example queries):
    profiles    exact profile text by sha256 (every run points at the text it ran with)
    sessions    name, created, notes, the first run's profile (a snapshot of what the session started with)
    runs        one row per finished run with its totals; FTS5 index `runs_fts` over prompt and output
    hops        one row per hop (step, attempt, ...) keyed (run_id, hop_id); tokens, usage buckets, exact cost,
                the price entry used, the hop's output text
    messages    the conversation of a run: the user's prompt, then each successful attempt's answer
    decisions   the engine's decisions (route chosen, fallback taken, call refused) with their reasons and
                structured `data` (JSON)
Migration 6 (event schema v2) adds hops' `target_index`, `role`, `retry_after_s`, gate results (`check_name`,
`verdict`, `score`, `detail`) and `data`; decisions' `data`; runs' `metadata`, `session_turn` and `reason`.
    evals       one row per `workbench eval`: profile, dataset (sha256), routes, settings, summary JSON
    eval_results one row per eval run (route, case, repeat): its run id, pass/fail, check details, cost
Migration 8 adds the indexes the session browser pages by: runs (started_ts, id), (route, ...), (status, ...).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

MIGRATIONS_TABLE = "migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    fn: Callable[[sqlite_utils.Database], None]


MIGRATIONS: list[Migration] = []


MigrationFn = Callable[[sqlite_utils.Database], None]


def migration(number: int, name: str) -> Callable[[MigrationFn], MigrationFn]:
    def register(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
        if any(m.number == number or m.name == name for m in MIGRATIONS):
            raise ValueError(f"migration {number} {name!r} registered twice")
        if MIGRATIONS and number <= MIGRATIONS[-1].number:
            raise ValueError(f"migration {number} {name!r} is out of order")
        MIGRATIONS.append(Migration(number, name, fn))
        return fn

    return register


def latest_version() -> int:
    return MIGRATIONS[-1].number


# -- the migrations, oldest first: never edit one that has been released ------------------------------------------


@migration(1, "create_core_tables")
def _m001(db: sqlite_utils.Database) -> None:
    db.table("profiles").create(
        {"sha256": str, "text": str, "path": str, "first_seen_ts": float}, pk="sha256", not_null={"text"}
    )
    db.table("sessions").create(
        {"name": str, "created_ts": float, "created_at": str, "notes": str, "profile_hash": str},
        pk="name",
        foreign_keys=[("profile_hash", "profiles", "sha256")],
    )
    db.table("runs").create(
        {
            "id": str,
            "session": str,
            "route": str,
            "profile": str,
            "profile_hash": str,
            "profile_path": str,
            "prompt": str,
            "output": str,
            "status": str,
            "error": str,
            "started_at": str,
            "started_ts": float,
            "ended_ts": float,
            "latency_ms": float,
            "ttft_ms": float,
            "input_tokens": int,
            "output_tokens": int,
            "cost_usd": float,
            "cost_exact": str,
            "estimated": int,
            "hop_count": int,
            "event_schema": int,
        },
        pk="id",
        not_null={"status", "cost_exact"},
        foreign_keys=[("session", "sessions", "name"), ("profile_hash", "profiles", "sha256")],
    )
    db.table("hops").create(
        {
            "run_id": str,
            "hop_id": str,
            "parent_id": str,
            "seq": int,
            "kind": str,
            "name": str,
            "provider": str,
            "model": str,
            "model_id": str,
            "attempt": int,
            "status": str,
            "error_class": str,
            "error": str,
            "retryable": int,
            "reason": str,
            "started_ts": float,
            "first_token_ts": float,
            "ended_ts": float,
            "latency_ms": float,
            "ttft_ms": float,
            "input_tokens": int,
            "output_tokens": int,
            "usage_input": int,
            "usage_cache_read": int,
            "usage_cache_write_5m": int,
            "usage_cache_write_1h": int,
            "usage_output": int,
            "usage_reasoning": int,
            "usage_input_source": str,
            "usage_output_source": str,
            "estimated_input_tokens": int,
            "estimated_output_tokens": int,
            "cost_usd": float,
            "cost_exact": str,
            "cost_detail": str,
            "price": str,
            "output": str,
        },
        pk=("run_id", "hop_id"),
        not_null={"kind", "status", "cost_exact"},
        foreign_keys=[("run_id", "runs", "id")],
    )


@migration(2, "create_messages_and_decisions")
def _m002(db: sqlite_utils.Database) -> None:
    db.table("messages").create(
        {"run_id": str, "seq": int, "role": str, "content": str, "hop_id": str},
        pk=("run_id", "seq"),
        not_null={"role"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("decisions").create(
        {"run_id": str, "seq": int, "hop_id": str, "action": str, "reason": str, "target": str, "ts": float},
        pk=("run_id", "seq"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    # Runs saved before this migration get their conversation back from what they already hold.
    db.execute("INSERT INTO messages (run_id, seq, role, content) SELECT id, 0, 'user', prompt FROM runs")
    db.execute(
        "INSERT INTO messages (run_id, seq, role, content, hop_id)"
        " SELECT run_id, row_number() OVER (PARTITION BY run_id ORDER BY seq), 'assistant', output, hop_id"
        " FROM hops WHERE kind = 'attempt' AND status = 'ok' AND coalesce(output, '') != ''"
    )
    db.execute(
        "INSERT INTO messages (run_id, seq, role, content) SELECT id, 1, 'assistant', output FROM runs"
        " WHERE coalesce(output, '') != '' AND id NOT IN (SELECT run_id FROM messages WHERE seq = 1)"
    )


@migration(3, "create_indexes")
def _m003(db: sqlite_utils.Database) -> None:
    # `sessions list` (newest first, optionally per session), the QUERIES.md reports, profile lookups.
    db.table("runs").create_index(["started_ts"], if_not_exists=True)
    db.table("runs").create_index(["session", "started_ts"], if_not_exists=True)
    db.table("runs").create_index(["route", "started_ts"], if_not_exists=True)
    db.table("runs").create_index(["profile_hash"], if_not_exists=True)
    db.table("hops").create_index(["kind", "model", "latency_ms"], if_not_exists=True)
    db.table("hops").create_index(["provider", "model"], if_not_exists=True)


@migration(4, "create_runs_fts")
def _m004(db: sqlite_utils.Database) -> None:
    # External-content FTS5 kept in step by triggers: Datasette offers its search box on `runs` as-is.
    db.table("runs").enable_fts(["prompt", "output"], fts_version="FTS5", create_triggers=True)


@migration(5, "fts_porter_prefix")
def _m005(db: sqlite_utils.Database) -> None:
    # Stemmed search ("connection pool" finds "connection pooling") and prefix indexes so `pool*` stays fast on
    # a large store. The triggers of migration 4 name the table only: they keep feeding the new one.
    db.execute("DROP TABLE IF EXISTS runs_fts")
    db.execute(
        'CREATE VIRTUAL TABLE runs_fts USING FTS5 ("prompt", "output", content="runs",'
        " tokenize='porter unicode61', prefix='2 3 4')"
    )
    db.execute("INSERT INTO runs_fts (runs_fts) VALUES ('rebuild')")


@migration(6, "event_schema_v2")
def _m006(db: sqlite_utils.Database) -> None:
    # What event schema v2 carries. Columns only added (nullable): every v1 row stays as it was, its new
    # columns NULL. `runs.status` is free text, so `degraded` needs no change to the table.
    for table, columns in (
        (
            "hops",
            (
                ("target_index", int),
                ("role", str),
                ("retry_after_s", float),
                ("check_name", str),
                ("verdict", str),
                ("score", float),
                ("detail", str),
                ("data", str),
            ),
        ),
        ("decisions", (("data", str),)),
        ("runs", (("metadata", str), ("session_turn", int), ("reason", str))),
    ):
        for name, kind in columns:
            db.table(table).add_column(name, kind)


@migration(7, "create_evals")
def _m007(db: sqlite_utils.Database) -> None:
    # An eval (workbench eval) and each of its runs' verdicts. `run_id` names the saved run; it is not a foreign
    # key: a run the writer could not save goes to a rescue file (and comes back by `sessions import`) while the
    # eval's verdicts must not be lost meanwhile.
    db.table("evals").create(
        {
            "id": str,
            "created_ts": float,
            "created_at": str,
            "profile_hash": str,
            "profile_path": str,
            "dataset": str,
            "dataset_sha256": str,
            "routes": str,
            "repeat": int,
            "concurrency": int,
            "max_cost_usd": str,
            "stopped": str,
            "summary": str,
        },
        pk="id",
    )
    db.table("eval_results").create(
        {
            "eval_id": str,
            "route": str,
            "case_id": str,
            "rep": int,
            "run_id": str,
            "status": str,
            "passed": int,
            "checks": str,
            "cost_exact": str,
            "latency_ms": float,
            "fallback": int,
            "cached": int,
        },
        pk=("eval_id", "route", "case_id", "rep"),
        foreign_keys=[("eval_id", "evals", "id")],
    )
    db.table("eval_results").create_index(["run_id"], if_not_exists=True)
    # `eval --cache`: an answer per exact request (profile text, route, input, history, metadata, repeat number),
    # with the original run's id, latency and cost, so a re-run reuses it and still reports what it cost then.
    db.table("eval_cache").create({"key": str, "created_ts": float, "run_id": str, "data": str}, pk="key")


@migration(8, "keyset_indexes")
def _m008(db: sqlite_utils.Database) -> None:
    # The session browser pages by key (started_ts, id), newest first, optionally for one route or status:
    # with these a page is one index range scan at any depth (browse.py), where (started_ts) alone left the id
    # tie-break to a sort, and (route, started_ts) sorted every run of the route.
    db.table("runs").create_index(["started_ts", "id"], if_not_exists=True)
    db.table("runs").create_index(["route", "started_ts", "id"], if_not_exists=True)
    db.table("runs").create_index(["status", "started_ts", "id"], if_not_exists=True)


@migration(9, "hop_engine_ms")
def _m009(db: sqlite_utils.Database) -> None:
    # An attempt's `engine_ms` (the engine's own time in the hop, apart from the provider's and the caller's), so
    # a stored run shows its orchestration overhead as it was measured. Older rows keep NULL: not measured then.
    db.table("hops").add_column("engine_ms", float)


# -- applying them ------------------------------------------------------------------------------------------------


def applied(db: sqlite_utils.Database) -> dict[int, str]:
    """Recorded migrations, number -> name (read-only)."""
    if not db.table(MIGRATIONS_TABLE).exists():
        return {}
    return {row[0]: row[1] for row in db.execute(f"SELECT id, name FROM {MIGRATIONS_TABLE}").fetchall()}


def unknown_migrations(db: sqlite_utils.Database) -> dict[int, str]:
    """Recorded migrations this code does not know: non-empty means a newer workbench wrote the database."""
    known = {m.number: m.name for m in MIGRATIONS}
    return {n: name for n, name in applied(db).items() if known.get(n) != name}


def pending(db: sqlite_utils.Database) -> list[Migration]:
    done = applied(db)
    return [m for m in MIGRATIONS if m.number not in done]


def migrate(db: sqlite_utils.Database, *, stop_before: int | None = None) -> list[str]:
    """Apply the missing migrations (those numbered below `stop_before` when given). Returns their names.

    The caller has already checked `unknown_migrations` is empty. Raises sqlite3.Error on failure, after
    rolling everything back (the file is as it was).
    """
    conn = db.conn
    if not pending(db):
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not db.table(MIGRATIONS_TABLE).exists():
            db.table(MIGRATIONS_TABLE).create({"id": int, "name": str, "applied_at": str}, pk="id", not_null={"name"})
        done_names: list[str] = []
        for m in pending(db):  # re-read under the write lock: another process may have migrated meanwhile
            if stop_before is not None and m.number >= stop_before:
                break
            m.fn(db)
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (id, name, applied_at) VALUES (?, ?, ?)",
                (m.number, m.name, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
            )
            done_names.append(m.name)
        top = max(applied(db), default=0)
        conn.execute(f"PRAGMA user_version = {int(top)}")
        if conn.in_transaction:  # (sqlite-utils 3.x's executescript commits on its own)
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return done_names
