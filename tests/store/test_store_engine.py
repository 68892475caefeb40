"""End to end: the engine against the embedded simulator, saved by the EventWriter and by `workbench run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import sqlite_utils
from invariants import check_invariants

from workbench.engine.events import Event, HopFinished, RunFinished, RunStarted
from workbench.store import EventWriter, open_store

PROFILE = """\
name: store-e2e
sim: {seed: 5}
providers:
  oai: {kind: sim, wire: openai}
  ant: {kind: sim, wire: anthropic}
models:
  mini:
    provider: oai
    model: sim-mini
    prices: [{effective: 2026-01-01, input: 0.15, cached_input: 0.075, output: 0.60}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30}
  broken:
    provider: oai
    model: sim-broken
    prices: [{input: 2.5, output: 10}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, faults: [{kind: http_503, rate: 1.0}]}
  claude:
    provider: ant
    model: sim-claude
    prices: [{input: 3, output: 15, cached_input: 0.30, cache_write_5m: 3.75}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 25, cached_tokens: 4}
routes:
  plain: {steps: [{name: answer, targets: [mini]}]}
  fallback: {steps: [{name: answer, targets: [broken, claude]}]}
  two_steps:
    steps:
      - {name: draft, targets: [mini]}
      - {name: polish, targets: [claude], system: "Polish the draft."}
"""


def _check_against_events(db: Path, events: list[Event]) -> None:
    """What the engine said is what the store holds: totals, hops, costs; and the hop latencies nest."""
    finished = {e.run_id: e for e in events if isinstance(e, RunFinished)}
    hop_events = {(e.run_id, e.hop_id): e for e in events if isinstance(e, HopFinished)}
    store = sqlite_utils.Database(db)
    for run_id, end in finished.items():
        run = store["runs"].get(run_id)
        assert (run["status"], run["output"], run["latency_ms"]) == (end.status, end.output, end.latency_ms)
        assert Decimal(run["cost_exact"]) == Decimal(end.cost["total"]) == end.cost_usd
        assert (run["input_tokens"], run["output_tokens"]) == (end.input_tokens, end.output_tokens)
        hops = list(store["hops"].rows_where("run_id = ?", [run_id], order_by="seq"))
        assert {h["hop_id"] for h in hops} == {h for (r, h) in hop_events if r == run_id}
        for h in hops:
            ev = hop_events[(run_id, h["hop_id"])]
            assert Decimal(h["cost_exact"]) == ev.cost_usd and h["latency_ms"] == ev.latency_ms
            output = h["output"]
            if h["kind"] == "step" and output is None:  # kept once, on the attempt that served it
                output = next(a["output"] for a in hops if a["parent_id"] == h["hop_id"] and a["status"] == "ok")
            assert h["status"] == ev.status and output == ev.output
            # an attempt's engine time is kept as measured; other hops have none
            assert h["engine_ms"] == ev.engine_ms and (h["engine_ms"] is not None) == (h["kind"] == "attempt")
        steps = [h for h in hops if h["kind"] == "step"]
        assert sum(s["latency_ms"] for s in steps) <= run["latency_ms"]
        for step in steps:
            inner = [h["latency_ms"] for h in hops if h["parent_id"] == step["hop_id"]]
            assert inner and sum(inner) <= step["latency_ms"]
    store.close()


async def test_engine_runs_are_saved_whole_and_exact(tmp_path: Path) -> None:
    from workbench.engine import Engine
    from workbench.profiles.load import loads_profile

    db = tmp_path / "e2e.db"
    loaded = loads_profile(PROFILE, "store-e2e.yaml")
    events: list[Event] = []
    writer = EventWriter(db, session="e2e", profile=loaded)
    async with Engine(loaded) as engine:
        for route in ("plain", "fallback", "two_steps") * 2:
            async for event in engine.run(f"tell me about {route}", route=route):
                events.append(event)
                writer.submit(event)
    writer.close()
    assert writer.errors == [] and writer.notices == [] and writer.saved == 6
    _check_against_events(db, events)
    assert check_invariants(db) == 6
    with open_store(db) as store:
        fallback_id = next(e.run_id for e in events if isinstance(e, RunStarted) and e.route == "fallback")
        detail = store.get_run(fallback_id)
        assert [(h["kind"], h["name"], h["status"]) for h in detail.hops] == [
            ("step", "answer", "ok"),
            ("attempt", "broken", "error"),
            ("attempt", "claude", "ok"),
        ]
        assert detail.hops[1]["error_class"] == "server" and detail.hops[2]["usage_cache_read"] == 4
        assert [d["action"] for d in detail.decisions] == ["route", "fallback"]
        assert detail.run["profile_hash"] == loaded.sha256
        assert store.db["profiles"].get(loaded.sha256)["text"] == PROFILE


def test_workbench_run_saves_and_sessions_list_shows_it(tmp_path: Path) -> None:
    profile = tmp_path / "e2e.yaml"
    profile.write_text(PROFILE)
    db = tmp_path / "cli.db"
    env = {**os.environ, "WORKBENCH_DB": str(db), "COLUMNS": "200"}

    def wb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "workbench", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )

    done = wb(
        "run",
        "--profile",
        str(profile),
        "--route",
        "fallback",
        "--session",
        "cli-test",
        "--json",
        "what is a fallback?",
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    end = events[-1]
    assert end["type"] == "run_finished"
    assert wb("run", "--profile", str(profile), "--no-save", "not saved").returncode == 0

    listed = wb("sessions", "list")
    assert listed.returncode == 0 and end["run_id"] in listed.stdout and "cli-test" in listed.stdout
    rows = [json.loads(line) for line in wb("sessions", "list", "--json").stdout.splitlines()]
    assert len(rows) == 1  # --no-save left nothing
    run = rows[0]
    assert (run["id"], run["route"], run["status"]) == (end["run_id"], "fallback", "ok")
    assert (run["input_tokens"], run["output_tokens"]) == (end["input_tokens"], end["output_tokens"])
    assert Decimal(run["cost_exact"]) == Decimal(end["cost"]["total"])
    assert check_invariants(db) == 1
    shown = wb("sessions", "show", end["run_id"])
    assert shown.returncode == 0 and "attempt broken #1" in shown.stdout and "fallback" in shown.stdout
