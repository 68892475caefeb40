"""Saving and reading evals in the session database (tables `evals` and `eval_results`, migration 7).

The runs themselves are saved by the EventWriter like any run; these rows link them to the eval with each
run's verdict, so an eval can be reopened (`--baseline ID`), compared and quoted by an export (`--eval ID`).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import StoreError
from workbench.eval.runner import EvalResult

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile


def save_eval(
    db: Path | None,
    eval_id: str,
    result: EvalResult,
    summary: dict[str, Any],
    *,
    loaded: LoadedProfile,
    dataset: Any,
    concurrency: int,
    max_cost_usd: Any,
    cache_new: dict[str, dict[str, Any]] | None = None,
) -> None:
    from workbench.store import open_store

    now = time.time()
    with open_store(db) as store, store.transaction("saving the eval") as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO eval_cache (key, created_ts, run_id, data) VALUES (?,?,?,?)",
            [(k, now, v.get("run_id"), json.dumps(v)) for k, v in (cache_new or {}).items()],
        )
        conn.execute(
            "INSERT INTO evals (id, created_ts, created_at, profile_hash, profile_path, dataset, dataset_sha256,"
            " routes, repeat, concurrency, max_cost_usd, stopped, summary) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                eval_id,
                now,
                datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
                loaded.sha256,
                loaded.label,
                str(dataset.path),
                dataset.sha256,
                json.dumps(result.routes),
                result.repeat,
                concurrency,
                None if max_cost_usd is None else str(max_cost_usd),
                result.stopped,
                json.dumps(summary),
            ),
        )
        conn.executemany(
            "INSERT INTO eval_results (eval_id, route, case_id, rep, run_id, status, passed, checks, cost_exact,"
            " latency_ms, fallback, cached) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    eval_id,
                    o.route,
                    o.case_id,
                    o.rep,
                    o.run_id or None,
                    o.status,
                    int(o.passed),
                    json.dumps([c.__dict__ for c in o.checks]),
                    str(o.cost),
                    o.latency_ms,
                    int(o.fallback),
                    int(o.cached),
                )
                for o in result.outcomes
            ],
        )


def _find(store: Any, ref: str) -> str:
    """An eval by unique id prefix or suffix, or `last` (the newest eval)."""
    if ref == "last":
        row = store.conn.execute("SELECT id FROM evals ORDER BY created_ts DESC LIMIT 1").fetchone()
        if row is None:
            raise StoreError(f"no eval yet in {store.path}", hint="run `workbench eval` first")
        return str(row[0])
    rows = store.conn.execute(
        "SELECT id FROM evals WHERE id LIKE ? OR id LIKE ? ORDER BY created_ts", (ref + "%", "%" + ref)
    ).fetchall()
    if not rows:
        raise StoreError(f"no eval {ref!r} in {store.path}", hint="eval ids are printed by `workbench eval`")
    if len(rows) > 1:
        ids = ", ".join(str(r[0]) for r in rows[-5:])
        raise StoreError(
            f"eval id {ref!r} is ambiguous ({len(rows)} evals match it: {ids})",
            hint="give more of the id (a unique end works too), or `last` for the newest eval",
        )
    return str(rows[0][0])


def load_shares(db: Path | None, ref: str) -> tuple[str, dict[tuple[str, str], float]]:
    """(full eval id, {(route, case): share of passing repeats}) of a stored eval."""
    from workbench.store import open_store

    with open_store(db, create=False) as store, store.errors("reading the eval"):
        eval_id = _find(store, ref)
        rows = store.conn.execute(
            "SELECT route, case_id, avg(passed) FROM eval_results WHERE eval_id = ?"
            " AND status NOT IN ('skipped', 'cancelled')"
            " GROUP BY route, case_id",
            (eval_id,),
        ).fetchall()
    return eval_id, {(r, c): float(p) for r, c, p in rows}


def eval_route_summary(db: Path | None, ref: str, route: str) -> tuple[float | None, str | None]:
    """(pass rate, cost per 1k runs) of `route` in a stored eval, for an export's provenance header."""
    from workbench.store import open_store

    with open_store(db, create=False) as store, store.errors("reading the eval"):
        eval_id = _find(store, ref)
        (summary,) = store.conn.execute("SELECT summary FROM evals WHERE id = ?", (eval_id,)).fetchone()
    data = json.loads(summary)["routes"].get(route)
    if data is None:
        raise StoreError(f"eval {eval_id} did not run route {route!r}")
    return data["pass_rate"], data["cost_per_1k_runs_usd"]


def load_cache(db: Path | None) -> dict[str, dict[str, Any]]:
    """Every cached answer (`eval --cache`); empty when there is no database yet."""
    from workbench.store import open_store

    with open_store(db) as store, store.errors("reading the eval cache"):
        return {k: json.loads(d) for k, d in store.conn.execute("SELECT key, data FROM eval_cache").fetchall()}
