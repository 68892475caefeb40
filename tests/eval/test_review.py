"""`workbench review`: spend, rates and never-answering targets from the store, and cheaper routes from evals."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from test_eval import CASES, PROFILE

DEAD = (
    "  dead: {provider: oai, model: sim-dead, prices: [{input: 1, output: 1}],"
    " sim: {ttft_ms: 0, faults: [{kind: http_503, rate: 1.0}]}}\n"
    "routes:\n  gone: {steps: [{name: a, targets: [dead, short]}]}\n"
)


def _wb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=120)


def test_review_reports_spend_fallbacks_dead_targets_and_candidates(tmp_path: Path) -> None:
    prof = tmp_path / "p.yaml"
    prof.write_text(PROFILE.replace("SEED", "3").replace("routes:\n", DEAD, 1))
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(c) + "\n" for c in CASES[6:]))  # 2 topic cases (pass), 2 fact cases (fail)
    db = tmp_path / "wb.db"
    ev = _wb(
        "eval",
        "--profile",
        str(prof),
        "--dataset",
        str(data),
        "--routes",
        "terse,wordy,gone",
        "--json",
        "--db",
        str(db),
    )
    assert ev.returncode == 0, ev.stderr
    summary = json.loads(ev.stdout)
    proc = _wb("review", "--db", str(db), "--json", "--since", "1h")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert set(r["routes"]) == {"terse", "wordy", "gone"} and all(v["runs"] == 4 for v in r["routes"].values())
    for route, s in r["routes"].items():
        assert Decimal(s["spend_usd"]) == Decimal(summary["routes"][route]["cost_total_usd"])
        assert Decimal(r["steps"][f"{route}/a"]["spend_usd"]) == Decimal(s["spend_usd"])
    assert r["routes"]["gone"]["fallback_rate"] == 1.0 and r["routes"]["terse"]["fallback_rate"] == 0.0
    assert r["never_answered"] == ["dead"] and r["models"]["dead"]["failed_share"] == 1.0
    wordy = [c for c in r["candidates"] if c["current"] == "wordy"]
    assert len(wordy) == 1 and wordy[0]["candidate"] in ("terse", "gone") and wordy[0]["cost_ratio"] < 0.2
    assert "instead of wordy" in wordy[0]["text"] and "passes 50%" in wordy[0]["text"]
    human = _wb("review", "--db", str(db), "--since", "1h")
    assert human.returncode == 0 and "never answered: dead" in human.stdout
    bad = _wb("review", "--db", str(db), "--since", "soon")
    assert bad.returncode != 0 and "--since 'soon'" in bad.stderr and "Traceback" not in bad.stderr


BREAKER = """\
name: review-breaker
sim: {seed: SEED}
providers:
  oai: {kind: sim, wire: openai}
policies:
  retry: {max_attempts: 1}
models:
  flaky:
    provider: oai
    model: sim-flaky
    prices: [{input: 1, output: 1}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20, faults: [{kind: http_503, rate: 0.5}]}
  short:
    provider: oai
    model: sim-short
    prices: [{input: 1, output: 1}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
routes:
  main: {breaker: {failures: 1, open_s: 3600}, steps: [{name: a, targets: [flaky, short]}]}
"""


def test_review_counts_breaker_skipped_targets_apart_from_failed_calls(tmp_path: Path) -> None:
    """Issue 20 item 24: `flaky` answers its first call, fails its second (the breaker opens), then is passed over
    for the other 4 cases without a call. It made 2 calls, 1 failed (50%), and was skipped 4 times — not "6 calls,
    83% failed"."""
    from tests.engine.resilience_helpers import seed_failing_first

    seed = seed_failing_first("sim-flaky", [{"kind": "http_503", "rate": 0.5}], (False, True))
    prof = tmp_path / "p.yaml"
    prof.write_text(BREAKER.replace("SEED", str(seed)))
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": f"c{i}", "input": f"question {i}"}) + "\n" for i in range(6)))
    db = tmp_path / "wb.db"
    args = ("--profile", str(prof), "--dataset", str(data), "--routes", "main", "--concurrency", "1")
    ev = _wb("eval", *args, "--json", "--db", str(db))
    assert ev.returncode == 0, ev.stderr
    r = json.loads(_wb("review", "--db", str(db), "--json", "--since", "1h").stdout)
    flaky = r["models"]["flaky"]
    assert (flaky["calls"], flaky["ok"], flaky["skipped"]) == (2, 1, 4)
    assert flaky["failed_share"] == 0.5
    assert (r["models"]["short"]["calls"], r["models"]["short"]["skipped"]) == (5, 0)
    assert r["never_answered"] == []
    human = _wb("review", "--db", str(db), "--since", "1h")
    assert human.returncode == 0, human.stderr
    (row,) = [line for line in human.stdout.splitlines() if "flaky" in line]
    assert [cell.strip() for cell in row.strip("│┃ ").split("│")][:4] == ["flaky", "2", "50%", "4"], row
