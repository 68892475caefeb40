"""The SQL in workbench/store/QUERIES.md runs as-is in `sqlite-utils query` and gives the right figures."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import sqlite_utils

QUERIES_MD = Path(__file__).resolve().parents[2] / "workbench" / "store" / "QUERIES.md"
SQLITE_UTILS = Path(sys.executable).with_name("sqlite-utils")


def _queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", QUERIES_MD.read_text(), flags=re.S)


def _run(db: Path, sql: str) -> list[dict]:
    out = subprocess.run([str(SQLITE_UTILS), "query", str(db), sql], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered)) - 1]


def test_the_three_documented_queries(populated: Path) -> None:
    cost_sql, latency_sql, failure_sql = _queries()
    db = sqlite_utils.Database(populated)
    runs = list(db["runs"].rows)
    attempts = list(db["hops"].rows_where("kind = 'attempt'"))
    db.close()

    # SQLite's round() and Python's differ on halves, so figures are checked against the exact sums to within
    # the rounding step.
    per_day: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for r in runs:
        day = dt.datetime.fromtimestamp(r["started_ts"], dt.UTC).date().isoformat()
        per_day[(day, r["route"])].append(Decimal(r["cost_exact"]))
    got = _run(populated, cost_sql)
    assert {(g["day"], g["route"]) for g in got} == set(per_day)
    for g in got:
        exact = sum(per_day[(g["day"], g["route"])], Decimal(0))
        assert g["runs"] == len(per_day[(g["day"], g["route"])])
        assert abs(Decimal(repr(g["cost_usd"])) - exact) <= Decimal("0.0000005"), (g, exact)
    assert [g["day"] for g in got] == sorted((g["day"] for g in got), reverse=True)
    assert len({g["day"] for g in got}) > 3  # the fixture spans several days

    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    for h in attempts:
        if h["status"] == "ok":
            latencies[(h["provider"], h["model"])].append(h["latency_ms"])
    got = _run(populated, latency_sql)
    assert {(g["provider"], g["model"]) for g in got} == set(latencies)
    for g in got:
        values = latencies[(g["provider"], g["model"])]
        assert g["attempts"] == len(values)
        assert abs(g["p50_ms"] - _nearest_rank(values, 0.5)) <= 0.05 + 1e-9
        assert abs(g["p95_ms"] - _nearest_rank(values, 0.95)) <= 0.05 + 1e-9

    outcomes: dict[tuple[str, str], list[str]] = defaultdict(list)
    classes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for h in attempts:
        if h["status"] not in ("skipped", "cancelled"):
            outcomes[(h["provider"], h["model"])].append(h["status"])
            if h["error_class"]:
                classes[(h["provider"], h["model"])].add(h["error_class"])
    got = _run(populated, failure_sql)
    expected = {}
    for key, statuses in outcomes.items():
        failures = sum(s in ("error", "timeout") for s in statuses)
        expected[key] = (len(statuses), failures, round(100.0 * failures / len(statuses), 1), classes[key])
    assert {
        (g["provider"], g["model"]): (
            g["attempts"],
            g["failures"],
            g["failure_pct"],
            set((g["error_classes"] or "").split(",")) - {""},
        )
        for g in got
    } == expected
    assert any(e[1] for e in expected.values()) and any(not e[1] for e in expected.values())
