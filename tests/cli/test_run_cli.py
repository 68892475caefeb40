"""`workbench run` and `workbench routes` through a real subprocess, on the shipped demo profile (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "profiles" / "demo.yaml"
COMMON = {"type", "run_id", "ts"}


def workbench(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
    )


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "wb.db"


def test_json_events_follow_the_documented_schema(db: Path) -> None:
    proc = workbench(
        "run",
        "--profile",
        str(DEMO),
        "--route",
        "frontier",
        "--json",
        "--db",
        str(db),
        "Why do tides happen twice a day?",
    )
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    assert all(COMMON <= set(e) for e in events)
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert {"hop_started", "first_token", "token", "decision", "hop_finished"} <= set(types)
    assert len({e["run_id"] for e in events}) == 1
    hop = next(e for e in events if e["type"] == "hop_finished" and e["kind"] == "attempt")
    for key in (
        "kind",
        "provider",
        "model",
        "attempt",
        "status",
        "latency_ms",
        "ttft_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "error",
    ):
        assert key in hop
    assert hop["status"] == "ok" and hop["input_tokens"] > 0 and hop["output_tokens"] > 0 and hop["cost_usd"] > 0
    final = events[-1]
    for key in ("status", "output", "latency_ms", "input_tokens", "output_tokens", "cost_usd"):
        assert key in final
    tokens = "".join(e["text"] for e in events if e["type"] == "token")
    assert final["output"] == tokens and final["status"] == "ok"
    hops = [e for e in events if e["type"] == "hop_finished"]
    assert sum(Decimal(h["cost"]["total"]) for h in hops if h.get("cost")) == Decimal(final["cost"]["total"])


def test_fallback_shows_when_the_primary_is_dialed_to_fail(db: Path) -> None:
    proc = workbench("run", "--profile", str(DEMO), "--json", "--db", str(db), "--sim-fault", "swift=http_503", "hello")
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    attempts = [e for e in events if e["type"] == "hop_finished" and e["kind"] == "attempt"]
    assert [a["status"] for a in attempts] == ["error", "ok"]
    assert attempts[0]["error_class"] == "server" and "503" in attempts[0]["error"]
    decisions = [e for e in events if e["type"] == "decision" and e["action"] == "fallback"]
    assert decisions and decisions[0]["reason"]


def test_human_output_the_answer_alone_on_stdout_the_rest_on_stderr(db: Path) -> None:
    args = ("run", "--profile", str(DEMO), "--route", "fallback", "--db", str(db))
    proc = workbench(*args, "--sim-fault", "swift=http_503", "Explain DNS caching")
    assert proc.returncode == 0, proc.stderr
    assert "fallback:" in proc.stderr  # the decision, noted as it happened
    assert "total" in proc.stderr and "$0.0" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    # stdout is exactly the answer (the run's output) and a final newline: `> answer.txt` captures only it
    as_json = workbench(*args, "--json", "--sim-fault", "swift=http_503", "Explain DNS caching")
    final = events_of(as_json.stdout)[-1]
    assert final["output"] and proc.stdout == final["output"] + "\n"


CAPPED = """\
version: 2
providers:
  oai: {kind: sim}
models:
  pricey:
    provider: oai
    model: sim-pricey
    prices: [{input: 100, output: 100}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 8}
  gratis:
    provider: oai
    model: sim-gratis
    free: true
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 8}
routes:
  capped: {max_cost_usd: 0.000001, steps: [{name: answer, targets: [pricey, gratis]}]}
"""


def test_hop_table_lists_hops_in_the_order_they_started(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(CAPPED, encoding="utf-8")
    proc = workbench("run", "--profile", "p.yaml", "--no-save", "hi", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stderr.splitlines() if line.strip().startswith(("answer", "└"))]
    assert [(r[0], r[1]) if r[0] != "└" else (r[1], r[4]) for r in rows] == [
        ("answer", "ok"),
        ("pricey", "skipped"),
        ("gratis", "ok"),
    ]


def test_prompt_from_stdin_and_a_megabyte_prompt(db: Path) -> None:
    big = "pooling " * 140_000  # ~1.1 MB
    proc = workbench(
        "run", "--profile", str(DEMO), "--route", "fallback", "--json", "--no-save", "-", stdin=big, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    started = events_of(proc.stdout)[0]
    assert started["prompt"] == big
    attempt = [e for e in events_of(proc.stdout) if e["type"] == "hop_finished" and e["status"] == "ok"][0]
    assert attempt["input_tokens"] > 100_000


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--route", "nope", "hi"], "unknown route 'nope'"),
        (["   "], "the prompt is empty"),
        (["--sim-fault", "ghost=http_503", "hi"], "unknown model 'ghost'"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(args: list[str], needle: str, db: Path) -> None:
    proc = workbench("run", "--profile", str(DEMO), "--db", str(db), *args)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    title = proc.stderr.splitlines()[0]
    assert title == {"unknown route 'nope'": "error: unknown route", "the prompt is empty": "error: empty prompt"}.get(
        needle, title
    )


def test_broken_profile_gets_file_line_field_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("tokens_per_s: 120", "tokens_per_s: fast", 1))
    proc = workbench("run", "--profile", str(bad), "--no-save", "hi")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "tokens_per_s: fast" in text)
    assert f"{bad}:{line}:" in proc.stderr and "tokens_per_s" in proc.stderr


def test_missing_api_key_variable_is_named(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "run", "--profile", str(ROOT / "profiles/openai.yaml"), "--no-save", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr and "Traceback" not in proc.stderr


def test_routes_lists_every_route_and_its_targets() -> None:
    proc = workbench("routes", "--profile", str(DEMO), "--json")
    assert proc.returncode == 0, proc.stderr
    routes = json.loads(proc.stdout)
    assert {"default", "fallback", "frontier", "budget"} <= set(routes)
    assert routes["fallback"]["steps"][0]["targets"][0] == "outage"
    assert sum(r["default"] for r in routes.values()) == 1
    human = workbench("routes", "--profile", str(DEMO))
    assert human.returncode == 0 and "fallback" in human.stdout and "→" in human.stdout


def test_redirected_stdout_gets_the_final_answer_alone(tmp_path) -> None:
    """A parallel route's children stream interleaved: none of that reaches a redirected stdout, only the answer."""
    import sqlite3

    db = tmp_path / "wb.db"
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "run", "--db", str(db), "--route", "shop", "Compare the X200 headphones"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        (output,) = conn.execute("select output from runs").fetchone()
    assert done.stdout == output + ("" if output.endswith("\n") else "\n")
    assert "merge" in done.stderr and "total" in done.stderr  # notes and the hop table went to stderr
