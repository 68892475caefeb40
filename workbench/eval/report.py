"""Summaries of an eval: per-route numbers, pairwise comparison, a plain-words verdict and a baseline diff.

Per route, over every run (case × repeat): pass rate with its 95% Wilson interval; with repeats, pass^N (share
of cases that passed all N times) and the flaky cases (passed some repeats, failed others); p50/p95 latency and
time to first token (nearest rank); mean and total cost (exact decimals, the sums of the runs' stored costs);
error, fallback and degraded rates; tokens. Pairwise, per case: the route whose share of passing repeats is
higher wins (equal is a tie), and the pass-rate difference has Newcombe's interval; the cost ratio has a
bootstrap interval over cases.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from workbench.eval.runner import EvalResult, RunOutcome
from workbench.eval.stats import bootstrap_ratio, newcombe, percentile, wilson

#: runs that produced no verdict: never started (cost cap, a stop) or cancelled mid-way (a signal)
UNFINISHED = ("skipped", "cancelled")


def _route_summary(route: str, runs: list[RunOutcome], repeat: int) -> dict[str, Any]:
    done = [r for r in runs if r.status not in UNFINISHED]
    n = len(done)
    k = sum(r.passed for r in done)
    lo, hi = wilson(k, n)
    by_case: dict[str, list[bool]] = defaultdict(list)
    for r in done:
        by_case[r.case_id].append(r.passed)
    total = sum((r.cost for r in done), Decimal(0))
    lat = [r.latency_ms for r in done]
    ttft = [r.ttft_ms for r in done if r.ttft_ms is not None]
    out: dict[str, Any] = {
        "route": route,
        "runs": n,
        "skipped": sum(r.status == "skipped" for r in runs),
        "cancelled": sum(r.status == "cancelled" for r in runs),
        "passed": k,
        "pass_rate": k / n if n else None,
        "pass_rate_ci": [lo, hi],
        "latency_p50_ms": percentile(lat, 50),
        "latency_p95_ms": percentile(lat, 95),
        "ttft_p50_ms": percentile(ttft, 50),
        "ttft_p95_ms": percentile(ttft, 95),
        "cost_total_usd": str(total),
        "cost_mean_usd": str(total / n) if n else "0",
        "cost_per_1k_runs_usd": str((total / n * 1000).quantize(Decimal("0.0001"))) if n else "0",
        "error_rate": sum(r.status == "error" for r in done) / n if n else None,
        "fallback_rate": sum(r.fallback for r in done) / n if n else None,
        "degraded_rate": sum(r.status == "degraded" for r in done) / n if n else None,
        "cached": sum(r.cached for r in done),
        "input_tokens": sum(r.input_tokens for r in done),
        "output_tokens": sum(r.output_tokens for r in done),
    }
    if repeat > 1:
        complete = {c: v for c, v in by_case.items() if len(v) == repeat}
        out["pass_all"] = sum(all(v) for v in complete.values()) / len(complete) if complete else None
        out["pass_any"] = sum(any(v) for v in complete.values()) / len(complete) if complete else None
        out["flaky_cases"] = sorted(c for c, v in by_case.items() if any(v) and not all(v))
    return out


def summarize(result: EvalResult) -> dict[str, Any]:
    per_route: dict[str, list[RunOutcome]] = {r: [] for r in result.routes}
    for o in result.outcomes:
        per_route[o.route].append(o)
    routes = {r: _route_summary(r, runs, result.repeat) for r, runs in per_route.items()}
    pairs = [_pair(a, b, per_route, routes) for i, a in enumerate(result.routes) for b in result.routes[i + 1 :]]
    for pr in pairs:
        prefs = result.preferences.get((pr["a"], pr["b"]))
        if prefs is not None:
            wa = sum(v == "a" for v in prefs.values())
            wb = sum(v == "b" for v in prefs.values())
            decisive = wa + wb
            pr["judge"] = {
                "a_preferred": wa,
                "b_preferred": wb,
                "ties": len(prefs) - decisive,
                "a_share": wa / decisive if decisive else None,
                "a_share_ci": list(wilson(wa, decisive)),
            }
    return {
        "routes": routes,
        "pairs": pairs,
        "cases": len(result.cases),
        "repeat": result.repeat,
        "stopped": result.stopped,
        "spent_usd": str(result.spent),
        "judge_spent_usd": str(result.judge_spent),
        "wall_s": round(result.wall_s, 3),
        "verdict": verdict(result.routes, routes, pairs, result.stopped),
    }


def _case_scores(runs: list[RunOutcome]) -> dict[str, float]:
    by: dict[str, list[bool]] = defaultdict(list)
    for r in runs:
        if r.status not in UNFINISHED:
            by[r.case_id].append(r.passed)
    return {c: sum(v) / len(v) for c, v in by.items()}


def _case_costs(runs: list[RunOutcome]) -> dict[str, float]:
    by: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        if r.status not in UNFINISHED:
            by[r.case_id].append(float(r.cost))
    return {c: sum(v) / len(v) for c, v in by.items()}


def _pair(a: str, b: str, per_route: dict[str, list[RunOutcome]], routes: dict[str, Any]) -> dict[str, Any]:
    sa, sb = _case_scores(per_route[a]), _case_scores(per_route[b])
    common = sorted(set(sa) & set(sb))
    wins = sum(sa[c] > sb[c] for c in common)
    losses = sum(sa[c] < sb[c] for c in common)
    ra, rb = routes[a], routes[b]
    d, lo, hi = newcombe(ra["passed"], ra["runs"], rb["passed"], rb["runs"])
    ca, cb = _case_costs(per_route[a]), _case_costs(per_route[b])
    cost = bootstrap_ratio([ca[c] for c in common], [cb[c] for c in common])
    return {
        "a": a,
        "b": b,
        "wins": wins,
        "ties": len(common) - wins - losses,
        "losses": losses,
        "pass_diff": d,
        "pass_diff_ci": [lo, hi],
        "significant": not (lo <= 0 <= hi),
        "cost_ratio_b_over_a": None if cost is None else list(cost),
    }


def verdict(names: list[str], routes: dict[str, Any], pairs: list[dict[str, Any]], stopped: str | None) -> str:
    parts: list[str] = []
    if stopped:
        parts.append(f"stopped early ({stopped}); the numbers cover the runs that finished.")
    for r in names:
        s = routes[r]
        if s["runs"]:
            lo, hi = s["pass_rate_ci"]
            parts.append(
                f"{r} passes {s['pass_rate']:.0%} [{lo:.0%}, {hi:.0%}] at ${s['cost_per_1k_runs_usd']} per 1k runs."
            )
    for p in pairs:
        a, b = p["a"], p["b"]
        words: list[str] = []
        if p["cost_ratio_b_over_a"]:
            ratio, lo, hi = p["cost_ratio_b_over_a"]
            if ratio < 1:
                words.append(f"{b} is {1 - ratio:.0%} cheaper than {a} [{1 - hi:.0%}, {1 - lo:.0%}]")
            elif ratio >= 2:
                words.append(f"{b} costs {ratio:.1f}× as much as {a} [{lo:.1f}×, {hi:.1f}×]")
            elif ratio > 1:
                words.append(f"{b} costs {ratio - 1:.0%} more than {a} [{lo - 1:.0%}, {hi - 1:.0%}]")
        diff = p["pass_diff"] * 100
        lo, hi = (x * 100 for x in p["pass_diff_ci"])
        sig = "significant" if p["significant"] else "not significant"
        words.append(f"pass rates differ by {abs(diff):.1f} points ({a} − {b}: [{lo:.1f}, {hi:.1f}]), {sig}")
        words.append(f"per case {a} wins {p['wins']}, ties {p['ties']}, loses {p['losses']}")
        parts.append("; ".join(words) + ".")
    return " ".join(parts)


def baseline_diff(
    current: dict[tuple[str, str], float], baseline: dict[tuple[str, str], float]
) -> list[dict[str, Any]]:
    """Per (route, case) pass share now vs the baseline: regressions first (largest drop first), then gains."""
    rows: list[dict[str, Any]] = []
    for key in sorted(set(current) & set(baseline)):
        now, before = current[key], baseline[key]
        change = "regression" if now < before else "improvement" if now > before else "same"
        rows.append({"route": key[0], "case": key[1], "before": before, "now": now, "change": change})
    order = {"regression": 0, "improvement": 1, "same": 2}
    rows.sort(key=lambda r: (order[r["change"]], r["now"] - r["before"] if r["change"] == "regression" else 0))
    return rows


def case_shares(outcomes: list[RunOutcome]) -> dict[tuple[str, str], float]:
    by: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for o in outcomes:
        if o.status != "skipped":
            by[(o.route, o.case_id)].append(o.passed)
    return {k: sum(v) / len(v) for k, v in by.items()}
