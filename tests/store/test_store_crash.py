"""Crash safety: SIGKILL in the middle of a batch of runs never corrupts the database or loses a committed run."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invariants import check_invariants

CHILD = Path(__file__).with_name("crash_child.py")


def _run_and_kill(db: Path, mode: str, batch: int, min_lines: int, rng: random.Random) -> dict[str, int]:
    """Start the child, wait until it reported `min_lines` committed runs, kill it at a random moment."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), mode, str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    committed: dict[str, int] = {}
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(committed) < min_lines:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"child ended early: {proc.stderr.read() if proc.stderr else ''}")
            run_id, hops = line.split()
            committed[run_id] = int(hops)
            assert time.monotonic() < deadline
        time.sleep(rng.uniform(0, 0.15))  # somewhere inside the next batch: assembling, writing or committing
        proc.send_signal(signal.SIGKILL)
        # Lines the child printed before dying were printed after their flush: they count too.
        out, _ = proc.communicate(timeout=30)
        for line in out.splitlines():
            if len(line.split()) == 2:
                run_id, hops = line.split()
                committed[run_id] = int(hops)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return committed


def _check(db: Path, committed: dict[str, int]) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("INSERT INTO runs_fts(runs_fts) VALUES('integrity-check')")  # raises if the index drifted
        saved = dict(conn.execute("SELECT id, hop_count FROM runs").fetchall())
        stored_hops = dict(conn.execute("SELECT run_id, count(*) FROM hops GROUP BY run_id").fetchall())
    finally:
        conn.close()
    missing = [rid for rid in committed if rid not in saved]
    assert not missing, f"{len(missing)} committed runs lost, e.g. {missing[:3]}"
    for rid, hops in committed.items():
        assert saved[rid] == hops == stored_hops[rid], rid  # present and complete
    assert all(stored_hops.get(rid) == n for rid, n in saved.items())  # no half run at all
    check_invariants(db)


@pytest.mark.parametrize("mode,batch,rounds", [("events", 200, 3), ("engine", 8, 2)])
def test_sigkill_mid_batch_keeps_the_database_whole(tmp_path: Path, mode: str, batch: int, rounds: int) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random(1234)
    committed: dict[str, int] = {}
    for _ in range(rounds):  # several kills on the same file: each restart recovers the WAL left behind
        committed.update(_run_and_kill(db, mode, batch, min_lines=batch * 2, rng=rng))
        _check(db, committed)
    assert len(committed) >= rounds * batch * 2
