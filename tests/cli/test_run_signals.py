"""SIGTERM, SIGHUP and SIGINT stop `workbench run` gracefully mid-stream: the run and its spend are saved and
the exit code is 128 + the signal's number. A real subprocess, a real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROFILE = """
name: signals
providers:
  sim: {kind: sim}
models:
  slow:
    provider: sim
    model: sim-slow
    prices: [{input: 1, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 20, answer_tokens: 600}
routes:
  slow: {steps: [{name: answer, targets: [slow]}]}
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_mid_stream_saves_the_run_and_exits_128_plus_signum(tmp_path: Path, signame: str) -> None:
    signum = getattr(signal, signame)
    profile = tmp_path / "signals.yaml"
    profile.write_text(PROFILE)
    db = tmp_path / "wb.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "run", "--profile", str(profile), "--json", "--db", str(db), "go"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        tokens = 0
        for line in proc.stdout:  # wait for the stream to be under way (an event, not a sleep)
            if json.loads(line)["type"] == "token":
                tokens += 1
                if tokens == 3:
                    break
        proc.send_signal(signum)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    last = json.loads(rest.splitlines()[-1])
    assert last["type"] == "run_finished" and last["status"] == "cancelled"
    with sqlite3.connect(db) as conn:
        status, cost, output_tokens = conn.execute("SELECT status, cost_usd, output_tokens FROM runs").fetchone()
        reason = conn.execute("SELECT reason FROM hops WHERE kind = 'attempt'").fetchone()[0]
    assert status == "cancelled" and cost > 0 and output_tokens >= 3
    assert reason == {"SIGTERM": "terminated (SIGTERM)", "SIGHUP": "hung up (SIGHUP)"}.get(signame, "cancelled by user")
