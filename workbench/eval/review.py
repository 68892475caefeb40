"""Routing review from the session database: where the money and the time went, per route, step, model and branch.

`review(store, since_ts)` reads runs started since `since_ts` and returns plain data: per route (runs, spend,
p50/p95 latency, error / degraded / fallback rates), per step and per model (calls made, spend, p50/p95, share of
those calls that failed, and apart from them the times a target was skipped without a call), branch shares (from `branch` decisions), targets that were called but never answered, and,
from evals saved in the window, per eval the cheapest route whose pass rate is within `margin` points of the
best route's ("switch candidates"). Percentiles are nearest-rank, costs exact decimals.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from workbench.eval.stats import percentile, wilson

# A SQLite result row (or a slice of one): its columns are whatever the query selects.
Row = tuple[Any, ...]


def parse_since(text: str) -> float:
    """`30d`, `12h`, `90m` -> seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"--since {text!r}: expected a number and a unit, like 30d, 12h or 90m") from None


def _group(rows: list[Row], key_len: int) -> dict[Row, list[Row]]:
    out: dict[Row, list[Row]] = defaultdict(list)
    for r in rows:
        out[tuple(r[:key_len])].append(r[key_len:])
    return out


def review(conn: Any, since_ts: float, *, margin: float = 0.02) -> dict[str, Any]:
    runs = conn.execute(
        "SELECT route, id, status, latency_ms, cost_exact FROM runs WHERE started_ts >= ? AND route != ?",
        (since_ts, "__workbench_judge__"),
    ).fetchall()
    fb = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT d.run_id FROM decisions d JOIN runs r ON r.id = d.run_id"
            " WHERE r.started_ts >= ? AND d.action = 'fallback'",
            (since_ts,),
        ).fetchall()
    }
    routes = {}
    for (route,), rows in sorted(_group(runs, 1).items()):
        n = len(rows)
        lat = [r[2] or 0.0 for r in rows]
        routes[route] = {
            "runs": n,
            "spend_usd": str(sum((Decimal(r[3]) for r in rows), Decimal(0))),
            "latency_p50_ms": percentile(lat, 50),
            "latency_p95_ms": percentile(lat, 95),
            "error_rate": sum(r[1] == "error" for r in rows) / n,
            "degraded_rate": sum(r[1] == "degraded" for r in rows) / n,
            "fallback_rate": sum(r[0] in fb for r in rows) / n,
        }
    hops = conn.execute(
        "SELECT h.kind, r.route, h.name, h.model, h.status, h.latency_ms, h.cost_exact, h.run_id, h.hop_id, h.parent_id"
        " FROM hops h"
        " JOIN runs r ON r.id = h.run_id WHERE r.started_ts >= ? AND r.route != ?",
        (since_ts, "__workbench_judge__"),
    ).fetchall()
    child_cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for k, _, _, _, _, _, c, run_id, _, parent in hops:
        if k == "attempt" and parent:
            child_cost[(run_id, parent)] += Decimal(c)
    steps = _stats(
        _group(
            [
                (route, name, st, lat, str(child_cost[(rid, hid)]))
                for k, route, name, _, st, lat, _, rid, hid, _ in hops
                if k == "step"
            ],
            2,
        )
    )
    models = _stats(_group([(m, st, lat, c) for k, _, _, m, st, lat, c, _, _, _ in hops if k == "attempt"], 1))
    never = sorted(m for (m,), s in models.items() if s["ok"] == 0 and s["calls"])
    branches: dict[str, dict[str, float]] = {}
    rows = conn.execute(
        "SELECT r.route, d.target, count(*) FROM decisions d JOIN runs r ON r.id = d.run_id"
        " WHERE r.started_ts >= ? AND d.action = 'branch' GROUP BY r.route, d.target",
        (since_ts,),
    ).fetchall()
    for (route,), items in _group(rows, 1).items():
        total = sum(c for _, c in items)
        branches[route] = {t or "?": c / total for t, c in items}
    return {
        "routes": routes,
        "steps": {f"{r}/{s}": v for (r, s), v in steps.items()},
        "models": {m: v for (m,), v in models.items()},
        "never_answered": never,
        "branches": branches,
        "candidates": _candidates(conn, since_ts, margin),
    }


def _stats(groups: dict[Row, list[Row]]) -> dict[Row, dict[str, Any]]:
    """Calls, failures, spend and latency per group. A `skipped` hop (a target passed over: breaker open, context
    window, cost cap) is no call: it is counted apart, never as a failed call (issue 20 item 24)."""
    out = {}
    for key, rows in sorted(groups.items(), key=lambda kv: str(kv[0])):
        called = [r for r in rows if r[0] != "skipped"]
        lat = [r[1] or 0.0 for r in called]
        ok = sum(r[0] == "ok" for r in called)
        out[key] = {
            "calls": len(called),
            "ok": ok,
            "failed_share": 1 - ok / len(called) if called else None,
            "skipped": len(rows) - len(called),
            "spend_usd": str(sum((Decimal(r[2]) for r in rows), Decimal(0))),
            "latency_p50_ms": percentile(lat, 50),
            "latency_p95_ms": percentile(lat, 95),
        }
    return out


def _candidates(conn: Any, since_ts: float, margin: float) -> list[dict[str, Any]]:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    if "evals" not in tables:
        return []
    out = []
    for eval_id, summary in conn.execute(
        "SELECT id, summary FROM evals WHERE created_ts >= ? ORDER BY created_ts", (since_ts,)
    ).fetchall():
        routes = json.loads(summary)["routes"]
        scored = [(r, s) for r, s in routes.items() if s["runs"]]
        if len(scored) < 2:
            continue
        for cur_route, cur in scored:
            cur_cost = Decimal(cur["cost_mean_usd"])
            cheaper = [
                (r, c)
                for r, c in scored
                if r != cur_route
                and Decimal(c["cost_mean_usd"]) < cur_cost
                and c["pass_rate"] >= cur["pass_rate"] - margin
            ]
            if not cheaper:
                continue
            cand_route, cand = min(cheaper, key=lambda rc: Decimal(rc[1]["cost_mean_usd"]))
            lo, hi = wilson(cand["passed"], cand["runs"])
            ratio = Decimal(cand["cost_mean_usd"]) / cur_cost
            out.append(
                {
                    "eval_id": eval_id,
                    "current": cur_route,
                    "candidate": cand_route,
                    "cost_ratio": float(ratio),
                    "text": f"eval {eval_id}: instead of {cur_route}, {cand_route} passes {cand['pass_rate']:.0%}"
                    f" [{lo:.0%}, {hi:.0%}] vs {cur['pass_rate']:.0%} at {float(ratio):.2f}× the cost",
                }
            )
    return out
