"""What the Eval screen shows, apart from widgets: the default dataset, live per-route counters, the results
table's rows from the eval package's summary, the Pareto-ish marks (cheapest, best pass rate, undominated) and
the export path. Pure functions and a small dataclass, so they are tested without a screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile

DEFAULT_DATASET = "datasets/support.jsonl"
RESULT_COLUMNS = ("route", "passed", "pass rate [95% CI]", "p50/p95 ms", "mean $", "total $", "err/fb/degr", "mark")


def _bases(loaded: LoadedProfile) -> list[Path]:
    """Where a relative dataset path may live: the profile's project (its folder and the one above), the
    working directory, then the checkout workbench itself runs from (the shipped datasets)."""
    out: list[Path] = []
    if loaded.path is not None:
        here = loaded.path.resolve().parent
        out += [here, here.parent]
    out.append(Path.cwd())
    out.append(Path(__file__).resolve().parents[2])
    return out


def resolve_dataset(text: str, loaded: LoadedProfile) -> Path:
    """The dataset file a typed path means: absolute as is; relative, the first base where it exists."""
    p = Path(text.strip()).expanduser()
    if p.is_absolute():
        return p
    for base in _bases(loaded):
        if (base / p).is_file():
            return base / p
    return p


def default_dataset(loaded: LoadedProfile) -> str:
    """`datasets/support.jsonl` of the profile's project, or the shipped one; shown in full so it is unambiguous."""
    found = resolve_dataset(DEFAULT_DATASET, loaded)
    return str(found) if found.is_file() else DEFAULT_DATASET


@dataclass
class RouteProgress:
    """Counters one route's progress bar shows; updated per finished run, drawn on a timer."""

    total: int
    done: int = 0
    failed: int = 0
    spent: Decimal = field(default_factory=lambda: Decimal(0))

    def add(self, passed: bool, cost: Decimal) -> None:
        self.done += 1
        self.failed += not passed
        self.spent += cost

    def label(self) -> str:
        return f"{self.done}/{self.total} fail {self.failed} ${self.spent:.6f}"


def marks(summary: dict[str, Any]) -> dict[str, list[str]]:
    """Per route: "cheapest" (lowest mean cost), "best" (highest pass rate; cheaper wins a tie) and "pareto"
    (no other route passes at least as often for at most the cost, better in one of the two)."""
    rows = {r: s for r, s in summary["routes"].items() if s["runs"]}
    out: dict[str, list[str]] = {r: [] for r in summary["routes"]}
    if not rows:
        return out

    def cost(r: str) -> Decimal:
        return Decimal(rows[r]["cost_mean_usd"])

    def rate(r: str) -> float:
        return float(rows[r]["pass_rate"] or 0.0)

    cheapest = min(rows, key=lambda r: (cost(r), -rate(r)))
    best = best_route(summary)
    for r in rows:
        dominated = any(
            rate(o) >= rate(r) and cost(o) <= cost(r) and (rate(o) > rate(r) or cost(o) < cost(r))
            for o in rows
            if o != r
        )
        if not dominated:
            out[r].append("pareto")
    out[cheapest].insert(0, "cheapest")
    if best is not None:
        out[best].insert(0, "best")
    return out


def best_route(summary: dict[str, Any]) -> str | None:
    """The route with the highest pass rate (the cheaper one of equals); None when no route ran."""
    rows = {r: s for r, s in summary["routes"].items() if s["runs"]}
    if not rows:
        return None
    best: str = min(rows, key=lambda r: (-float(rows[r]["pass_rate"] or 0.0), Decimal(rows[r]["cost_mean_usd"])))
    return best


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def result_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per route, in RESULT_COLUMNS order."""
    mk = marks(summary)
    rows: list[tuple[str, ...]] = []
    for name, s in summary["routes"].items():
        lo, hi = s["pass_rate_ci"]
        rate = "-" if s["pass_rate"] is None else f"{s['pass_rate']:.1%} [{lo:.1%}, {hi:.1%}]"
        p50, p95 = s["latency_p50_ms"], s["latency_p95_ms"]
        lat = "-" if p50 is None else f"{p50:.0f}/{p95:.0f}"
        rates = "/".join(_pct(s[k]) for k in ("error_rate", "fallback_rate", "degraded_rate"))
        rows.append(
            (
                name,
                f"{s['passed']}/{s['runs']}",
                rate,
                lat,
                f"{Decimal(s['cost_mean_usd']):.6f}",
                f"{Decimal(s['cost_total_usd']):.6f}",
                rates,
                " ".join(mk[name]) or "-",
            )
        )
    return rows


def pareto_line(summary: dict[str, Any]) -> str:
    mk = marks(summary)
    front = [r for r, m in mk.items() if "pareto" in m]
    cheapest = next((r for r, m in mk.items() if "cheapest" in m), None)
    best = next((r for r, m in mk.items() if "best" in m), None)
    if best is None:
        return "no route finished a run"
    s = summary["routes"]
    return (
        f"best pass rate: {best} ({_pct(s[best]['pass_rate'])}) · cheapest: {cheapest}"
        f" (${s[cheapest]['cost_per_1k_runs_usd']} per 1k runs) · Pareto front: {', '.join(front)}"
        + f" · x exports {best}"
    )


def export_path(loaded: LoadedProfile, route: str) -> Path:
    """`<route>.export.yaml` next to the profile (the working directory for a profile not read from a file)."""
    base = loaded.path.resolve().parent if loaded.path is not None else Path.cwd()
    return base / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', route)}.export.yaml"
