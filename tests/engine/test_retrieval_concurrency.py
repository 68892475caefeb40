"""Many runs over one corpus that is not indexed yet: the corpus is indexed once (a lock, in the process and across
processes), the others wait for it (and say so), and every run succeeds — never `database is locked`.

In one process: 4 concurrent runs through one engine. Across processes: 4 `workbench run` subprocesses at once,
and a run that waits on a lock another process holds, showing that process's progress while it waits."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.semantics_profile import collect, of
from workbench.engine import Engine
from workbench.profiles.load import loads_profile
from workbench.retrieval.index import index_path

ROOT = Path(__file__).resolve().parents[2]
FILES = 300
WORDS = ["refund", "parcel", "invoice", "warranty", "password", "delivery", "express", "account", "return"]


def profile_text(corpus: Path) -> str:
    return f"""
name: r
providers: {{local: {{kind: sim, wire: openai}}}}
models: {{m: {{provider: local, model: sim-m, prices: [{{input: 1, output: 1}}], sim: {{ttft_ms: 0, answer_tokens: 5}}}}}}
routes:
  ask:
    steps:
      - {{kind: retrieve, name: find, corpus: "{corpus}", top_k: 2}}
      - {{name: answer, targets: [m]}}
"""


def make_corpus(root: Path, files: int = FILES) -> Path:
    """`files` documents of 40 words each: far under the 400-token chunk bound, so one chunk per file."""
    rng = random.Random(7)
    root.mkdir()
    for i in range(files):
        body = " ".join(f"{rng.choice(WORDS)}{rng.randint(0, 99)}" for _ in range(40))
        (root / f"doc{i:03}.md").write_text(f"{body}\n")
    return root


def cache_counts(corpus: Path) -> tuple[int, int, int]:
    """(files, chunks, distinct chunk ids) in the index cache, read straight from its SQLite file."""
    with sqlite3.connect(index_path(corpus, 400)) as conn:
        files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
        chunks, distinct = conn.execute("SELECT count(*), count(DISTINCT doc_id) FROM chunks").fetchone()
    return files, chunks, distinct


@pytest.fixture
def private_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "wb.db"
    monkeypatch.setenv("WORKBENCH_DB", str(db))
    return db


async def test_four_concurrent_runs_in_one_process_index_the_corpus_once(tmp_path: Path, private_index: Path) -> None:
    corpus = make_corpus(tmp_path / "docs")
    loaded = loads_profile(profile_text(corpus))
    async with Engine(loaded) as engine:
        runs = await asyncio.gather(*(collect(engine, f"refund{n} question", route="ask") for n in range(4)))
    assert [events[-1].status for events in runs] == ["ok"] * 4, [events[-1].error for events in runs]
    reindexed = sorted(of(events, "hop_finished", kind="retrieve")[0].data["reindexed_files"] for events in runs)
    assert reindexed == [0, 0, 0, FILES]  # one run indexed every file; the three others found it done
    assert cache_counts(corpus) == (FILES, FILES, FILES)


def test_four_parallel_workbench_runs_index_the_corpus_once(tmp_path: Path, private_index: Path) -> None:
    corpus = make_corpus(tmp_path / "docs")
    profile = tmp_path / "p.yaml"
    profile.write_text(profile_text(corpus))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "workbench", "run", "--profile", str(profile), "--route", "ask", "--json"]
            + ["--db", str(private_index), f"refund{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "WORKBENCH_DB": str(private_index)},
        )
        for n in range(4)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    reindexed = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "database is locked" not in err
        events = [json.loads(line) for line in out.splitlines()]
        assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "ok"
        hop = [e for e in events if e["type"] == "hop_finished" and e["kind"] == "retrieve"][0]
        reindexed.append(hop["data"]["reindexed_files"])
    assert sorted(reindexed) == [0, 0, 0, FILES]
    assert cache_counts(corpus) == (FILES, FILES, FILES)
    with sqlite3.connect(private_index) as conn:  # and all four runs are saved
        assert conn.execute("SELECT count(*) FROM runs WHERE status = 'ok'").fetchone()[0] == 4


HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, f"{os.getpid()} 120 300 0 0\\n".encode(), 0)
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.mark.parametrize("then", ["released", "SIGINT"])
def test_a_run_waits_for_another_process_indexing_and_shows_its_progress(
    tmp_path: Path, private_index: Path, then: str
) -> None:
    corpus = make_corpus(tmp_path / "docs", files=5)
    profile = tmp_path / "p.yaml"
    profile.write_text(profile_text(corpus))
    lock = Path(f"{index_path(corpus, 400)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    run = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        run = subprocess.Popen(
            [sys.executable, "-m", "workbench", "run", "--profile", str(profile), "--route", "ask", "--json"]
            + ["--db", str(private_index), "refund1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "WORKBENCH_DB": str(private_index)},
        )
        assert run.stderr is not None
        line = run.stderr.readline()  # blocks until the run reports that it waits (or ends)
        assert f"waiting for another workbench (pid {holder.pid}) indexing" in line and "120/300 files" in line
        assert run.poll() is None  # still waiting while the other process holds the index
        if then == "SIGINT":  # Ctrl-C while waiting: the run stops at once, as it does while indexing
            run.send_signal(signal.SIGINT)
            sent = time.monotonic()
            out, err = run.communicate(timeout=60)
            assert time.monotonic() - sent < 10 and run.returncode == 130 and "Traceback" not in err, err
            assert json.loads(out.splitlines()[-1])["status"] == "cancelled"
            return
        holder.stdin.close()  # type: ignore[union-attr]  # the other process finishes: the run goes on
        out, err = run.communicate(timeout=60)
    finally:
        for proc in (holder, run):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert run.returncode == 0, err
    events = [json.loads(x) for x in out.splitlines()]
    waiting = [e for e in events if e["type"] == "progress" and e["phase"] == "waiting"]
    assert waiting and waiting[0]["done"] == 120 and waiting[0]["total"] == 300
    hop = [e for e in events if e["type"] == "hop_finished" and e["kind"] == "retrieve"][0]
    assert hop["data"]["reindexed_files"] == 5 and hop["data"]["waited_s"] > 0
    assert cache_counts(corpus) == (5, 5, 5)


def test_eval_at_concurrency_4_over_a_fresh_corpus_runs_every_case_and_saves_the_eval(
    tmp_path: Path, private_index: Path
) -> None:
    rng = random.Random(5)
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for i in range(FILES):  # ~15 KB each (4.5 MB): seconds of indexing, so the progress line shows
        paragraphs = [" ".join(f"{rng.choice(WORDS)}{rng.randint(0, 99)}" for _ in range(60)) for _ in range(30)]
        (corpus / f"doc{i:03}.md").write_text("\n\n".join(paragraphs) + "\n")
    profile = tmp_path / "p.yaml"
    profile.write_text(profile_text(corpus))
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text(
        "".join(json.dumps({"input": f"refund{n} parcel", "checks": {"max_tokens": 500}}) + "\n" for n in range(8))
    )
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "eval", "--profile", str(profile), "--dataset", str(dataset)]
        + ["--routes", "ask", "--concurrency", "4", "--db", str(private_index)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "WORKBENCH_DB": str(private_index)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "database is locked" not in proc.stderr
    assert f"indexing '{corpus}': " in proc.stderr and f"indexed '{corpus}': {FILES} file(s)" in proc.stderr
    assert "waiting for" not in proc.stderr  # the eval's own runs wait for one another silently
    with sqlite3.connect(private_index) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs")]
        reindexed = [
            r[0]
            for r in conn.execute("SELECT json_extract(data, '$.reindexed_files') FROM hops WHERE kind = 'retrieve'")
        ]
        evals = conn.execute("SELECT count(*) FROM evals").fetchone()[0]
    assert statuses == ["ok"] * 8 and evals == 1
    assert sorted(reindexed) == [0] * 7 + [FILES]
