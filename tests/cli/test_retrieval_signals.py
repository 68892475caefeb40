"""Ctrl-C and SIGTERM stop `workbench run` promptly while it indexes a large corpus: the indexing runs off the event
loop, says how far it got on stderr, and gives up when the run is cancelled. A real subprocess over a generated
corpus of 24 MB (several seconds of indexing), a real signal, a real SQLite file."""

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

ROOT = Path(__file__).resolve().parents[2]


def big_corpus(root: Path, files: int = 6, mb: int = 4) -> Path:
    rng = random.Random(11)
    words = [f"term{i}" for i in range(3000)]
    block = "\n\n".join(" ".join(rng.choice(words) for _ in range(60)) for _ in range(250))  # ~100 KB
    root.mkdir()
    repeat = mb * 1_000_000 // len(block) + 1
    for i in range(files):
        (root / f"manual{i}.md").write_text(f"# Manual {i}\n\n" + "\n\n".join([block] * repeat))
    return root


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_while_indexing_stops_the_run_promptly(tmp_path: Path, signame: str) -> None:
    signum = getattr(signal, signame)
    corpus = big_corpus(tmp_path / "docs")
    profile = tmp_path / "p.yaml"
    profile.write_text(
        f"""
name: big
providers: {{local: {{kind: sim, wire: openai}}}}
models: {{m: {{provider: local, model: sim-m, prices: [{{input: 1, output: 1}}], sim: {{ttft_ms: 0}}}}}}
routes:
  ask: {{steps: [{{kind: retrieve, name: find, corpus: "{corpus}"}}, {{name: answer, targets: [m]}}]}}
"""
    )
    db = tmp_path / "wb.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "run", "--profile", str(profile), "--db", str(db), "term7 term8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "WORKBENCH_DB": str(db), "COLUMNS": "200"},
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the first progress line: the indexing is under way (an event, no sleep)
        assert first.startswith(f"indexing '{corpus}': ") and "/6 files" in first, first
        proc.send_signal(signum)
        sent = time.monotonic()
        _, rest = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 10, f"exited {took:.1f} s after {signame}"
    assert proc.returncode == 128 + signum, rest
    assert "Traceback" not in rest
    with sqlite3.connect(db) as conn:
        status = conn.execute("SELECT status FROM runs").fetchone()[0]
        hop = conn.execute("SELECT status FROM hops WHERE kind = 'retrieve'").fetchone()[0]
    assert (status, hop) == ("cancelled", "cancelled")
