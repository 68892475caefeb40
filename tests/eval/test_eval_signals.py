"""SIGINT, SIGTERM and SIGHUP stop `workbench eval` as they stop `workbench run`: the finished runs, the runs in
flight (saved `cancelled`, with their estimated cost) and the partial eval (its `stopped` naming the signal) are
all in the database, and the exit code is 128 + the signal's number. A real subprocess on the demo profile, a
slow simulated route, a real SQLite file; the signal goes once the file shows finished runs (runs are then in
flight: three at a time, twelve cases)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "profiles" / "demo.yaml"
QUESTIONS = [
    "How do refunds work?",
    "Where is my parcel?",
    "Can I change my address?",
    "Do you ship abroad?",
    "How do I reset my password?",
    "What is your warranty?",
    "Can I pay by invoice?",
    "How long does delivery take?",
    "Is there a student discount?",
    "How do I cancel my order?",
    "Do you sell gift cards?",
    "Who do I call about a damaged item?",
]
REASONS = {"SIGINT": "cancelled by user", "SIGTERM": "terminated (SIGTERM)", "SIGHUP": "hung up (SIGHUP)"}


def _finished_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:  # not created or migrated yet
        return 0


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_saves_the_partial_eval_and_its_runs_in_flight(tmp_path: Path, signame: str) -> None:
    signum = getattr(signal, signame)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": f"c{i}", "input": q}) + "\n" for i, q in enumerate(QUESTIONS)))
    db = tmp_path / "wb.db"
    # `--models sage`: a one-step route on the demo's slowest model (600 ms to the first token, 50 tokens/s)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "eval", "--profile", str(DEMO), "--dataset", str(data)]
        + ["--models", "sage", "--concurrency", "3", "--db", str(db), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 90
        while _finished_runs(db) < 1:  # the observable condition: finished runs in the file
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no run finished in 90 s"
            time.sleep(0.05)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err[-2000:]
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["stopped"] == REASONS[signame]
    with sqlite3.connect(db) as conn:
        (eval_id, stopped, saved_summary), *more = conn.execute("SELECT id, stopped, summary FROM evals").fetchall()
        assert not more and stopped == REASONS[signame] and json.loads(saved_summary)["stopped"] == stopped
        results = conn.execute(
            "SELECT case_id, status, run_id, cost_exact FROM eval_results WHERE eval_id = ?", (eval_id,)
        ).fetchall()
        runs = {
            rid: (status, Decimal(str(cost)), out_tokens)
            for rid, status, cost, out_tokens in conn.execute(
                "SELECT id, status, cost_usd, output_tokens FROM runs WHERE session = ?", (f"eval-{eval_id}",)
            )
        }
        reasons = {r for (r,) in conn.execute("SELECT reason FROM hops WHERE status = 'cancelled'")}
    assert sorted(c for c, *_ in results) == sorted(f"c{i}" for i in range(len(QUESTIONS)))  # every case has a row
    statuses = [s for _, s, _, _ in results]
    assert statuses.count("ok") >= 1 and statuses.count("cancelled") >= 1
    assert set(statuses) <= {"ok", "degraded", "cancelled", "skipped"}
    # every run the eval started is saved, and its verdict row points at it with the same cost
    started = [(s, rid, Decimal(cost)) for _, s, rid, cost in results if s != "skipped"]
    assert len(runs) == len(started)
    for status, rid, cost in started:
        assert runs[rid][0] == status and runs[rid][1] == cost
    # the runs in flight were closed as cancelled with their estimated cost, the signal named as the reason
    cancelled = [runs[rid] for s, rid, _ in started if s == "cancelled"]
    assert all(cost > 0 for _, cost, _ in cancelled)
    assert reasons == {REASONS[signame]}
    # no run is left behind: the skipped ones were never started
    assert all(rid is None for _, s, rid, _ in results if s == "skipped")
    assert Decimal(summary["spent_usd"]) == sum((c for _, c, _ in runs.values()), Decimal(0))
