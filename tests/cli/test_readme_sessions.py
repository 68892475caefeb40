"""The README's headless commands, run as written on a fresh database: its `run` lines fill it, then its `sessions`
lines must do what their comments say. Also the exit codes the README promises (a degraded run with an answer
exits 0) and a reader that stops early (`| head`) leaving the run saved as it ended. Real subprocesses, the
shipped demo profile on the simulator."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
WORKBENCH = ".venv/bin/workbench"


def _block_after(heading: str) -> list[str]:
    """The first ``` block after `heading`, as commands: continuations joined, comments dropped."""
    tail = README[README.index(heading) :]
    body = tail.split("```", 2)[1]
    commands: list[str] = []
    pending = ""
    for raw in body.splitlines():
        line = raw.split(" # ", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append(pending + line)
        pending = ""
    return commands


def _env(db: Path) -> dict[str, str]:
    return {**os.environ, "WORKBENCH_DB": str(db), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}


def _shell(command: str, db: Path) -> subprocess.CompletedProcess[str]:
    python = shlex.quote(sys.executable)
    line = command.replace(WORKBENCH, f"{python} -m workbench")
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=180, cwd=ROOT, env=_env(db))


def _workbench(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=180, cwd=ROOT, env=_env(db)
    )


def _runs(db: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, status, output_tokens FROM runs ORDER BY started_ts").fetchall()


def _sessions_command(verb: str) -> list[str]:
    matches = [c for c in _block_after("opens the TUI.") if c.startswith(f"{WORKBENCH} sessions {verb}")]
    assert matches, f"the README shows no `sessions {verb}` line"
    return matches


def test_the_readme_run_lines_then_its_sessions_lines_do_what_they_say(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    run_lines = [c for c in _block_after("## Headless use") if re.search(r"workbench run\b", c)]
    assert len(run_lines) == 4
    for line in run_lines:
        done = _shell(line, db)
        assert done.returncode == 0, (line, done.stderr)
    runs = _runs(db)
    assert len(runs) == 4
    assert [status for _, status, _ in runs] == ["ok"] * 4  # `--json "hello" | head` included: not `cancelled`
    ids = [run_id for run_id, _, _ in runs]

    # `sessions show last`: the newest run
    (show_last,) = [c for c in _sessions_command("show") if c.split()[-1] == "last"]
    done = _shell(show_last, db)
    assert done.returncode == 0 and ids[-1] in done.stdout, done.stderr

    # `sessions show ID`: a start shared by every run (ids made close together share it) lists them, exit 2
    shared = os.path.commonprefix(ids)
    assert len(shared) >= 4
    done = _workbench("sessions", "show", shared[:4], db=db)
    assert done.returncode == 2 and "matches several runs" in done.stderr
    assert all(run_id in done.stderr for run_id in ids)  # the candidates, listed
    suffix = ids[1][-6:]  # the last characters tell them apart
    done = _workbench("sessions", "show", suffix, db=db)
    assert done.returncode == 0 and ids[1] in done.stdout, done.stderr

    # `sessions rm ID [ID ...]`: every id checked before any run is removed
    done = _workbench("sessions", "rm", suffix, shared[:4], db=db)
    assert done.returncode == 2 and "matches several runs" in done.stderr
    assert len(_runs(db)) == 4  # nothing removed, not even the unique one given first

    # the dated `sessions reprice` line selects the runs just made
    (dated,) = [c for c in _sessions_command("reprice") if "--since" in c]
    done = _shell(dated + " --json", db)
    assert done.returncode == 0, done.stderr
    assert sorted(r["id"] for r in json.loads(done.stdout)["runs"]) == sorted(ids)

    done = _workbench("sessions", "rm", suffix, db=db)
    assert done.returncode == 0 and f"removed run {ids[1]}" in done.stdout
    assert [run_id for run_id, _, _ in _runs(db)] == [ids[0], *ids[2:]]


SLOW = """\
name: slow
providers:
  sim: {kind: sim, wire: openai}
models:
  slow:
    provider: sim
    model: sim-slow
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 60, answer_tokens: 90}
routes:
  main: {steps: [{name: answer, targets: [slow]}]}
"""


def test_a_reader_that_stops_early_leaves_the_run_to_finish_and_be_saved_as_it_ended(tmp_path: Path) -> None:
    profile = tmp_path / "slow.yaml"
    profile.write_text(SLOW)
    db = tmp_path / "wb.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "run", "--profile", str(profile), "--json", "tell me"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_env(db),
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines = [proc.stdout.readline() for _ in range(6)]  # as `head -6` would: a few lines, then gone
    assert json.loads(lines[0])["type"] == "run_started"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err
    ((_, status, output_tokens),) = _runs(db)
    assert status == "ok" and output_tokens >= 80  # the whole answer (about 90 tokens), though nobody read it
    with sqlite3.connect(db) as conn:
        assert {s for (s,) in conn.execute("SELECT status FROM hops")} == {"ok"}


DEGRADE = """\
name: degrade
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 30, idle: 30, total: 60}}
models:
  hanger:
    provider: oai
    model: sim-hanger
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, faults: [{kind: hang}]}
  quick:
    provider: oai
    model: sim-quick
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}
routes:
  answered:
    steps:
      - {name: draft, targets: [quick]}
      - {name: answer, targets: [hanger, quick], budget: {latency_ms: 1000}}
  unanswered:
    budget: {latency_ms: 1000}
    steps: [{name: answer, targets: [hanger]}]
"""


@pytest.mark.parametrize(("route", "code"), [("answered", 0), ("unanswered", 1)])
def test_a_degraded_run_exits_0_when_it_has_an_answer_and_1_when_not(tmp_path: Path, route: str, code: int) -> None:
    profile = tmp_path / "degrade.yaml"
    profile.write_text(DEGRADE)
    db = tmp_path / "wb.db"
    done = _workbench("run", "--profile", str(profile), "--route", route, "hello", db=db)
    assert done.returncode == code, done.stderr
    ((_, status, _),) = _runs(db)
    assert status == "degraded"
    note = "note: the run ended degraded ("
    assert (note in done.stderr) == (code == 0)
    if code == 0:  # the note gives the run's own reason (here its latency budget), not a guess
        line = next(x for x in done.stderr.splitlines() if x.startswith(note))
        assert "budget" in line, line
    assert bool(done.stdout.strip()) == (code == 0)  # the answer on stdout, when there is one
    as_json = _workbench("run", "--profile", str(profile), "--route", route, "--json", "hello", db=db)
    assert as_json.returncode == code and note not in as_json.stderr


def test_a_gate_fallback_is_noted_with_the_gates_own_reason(tmp_path: Path) -> None:
    """The demo's parcel question has no help-centre note: the relevance gate falls back to the general branch.
    The note used to say a budget cut the run short; it now gives the reason the gate recorded."""
    demo = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"
    done = _workbench(
        "run", "--profile", str(demo), "--route", "support", "Where is my parcel? It's late.", db=tmp_path / "wb.db"
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("note: the run ended degraded ("))
    assert "budget" not in line
    assert "note covers this question" in line, line
