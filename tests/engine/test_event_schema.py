"""The event stream's contract: every event the engine emits (fallbacks, retries, caps refusing and tripping,
cancel, several steps, tool calls, an unknown content kind) validates against `workbench events schema` and
parses back equal with `Event.from_dict`; every line of `workbench run --json` validates too; and lines saved
from a v2 build (tests/engine/data/events_v2.jsonl, `run --json` before v3) still validate and parse."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from workbench.engine import CancelToken, Engine
from workbench.engine.event_schema import event_schema
from workbench.engine.events import EVENT_TYPES, Event, HopFinished, RunFinished
from workbench.profiles.load import loads_profile
from workbench.retrieval.index import index_path

ROOT = Path(__file__).resolve().parents[2]

PROFILE = """
version: 2
sim: {seed: 5}
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 0.5, idle: 0.5, total: 5}}
  ant: {kind: sim, wire: anthropic, timeouts: {first_token: 0.5, idle: 0.5, total: 5}}
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
    sim: {ttft_ms: 0, tokens_per_s: 100000, faults: [{kind: http_429, rate: 1.0}]}
  claude:
    provider: ant
    model: sim-claude
    prices: [{input: 3, output: 15, cached_input: 0.30, cache_write_5m: 3.75, cache_write_1h: 6}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 25}
  slowpoke:
    provider: oai
    model: sim-slow
    prices: [{input: 1, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 40, answer_tokens: 200}
  overrunner:
    provider: oai
    model: sim-overrun
    prices: [{input: 1, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 2000, answer_tokens: 200, ignore_max_tokens: true}
  free:
    provider: oai
    model: sim-free
    free: true
    prices: [{input: 0, output: 0}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
  toolsy:
    provider: ant
    model: sim-toolsy
    prices: [{input: 3, output: 15}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, unknown_content: true}
routes:
  tools:
    steps:
      - name: answer
        targets: [toolsy]
        tools: [{name: lookup, description: Look a word up, parameters: {type: object, properties: {word: {type: string}}}}]
  fallback: {steps: [{name: answer, targets: [broken, claude], retry: {max_attempts: 2, backoff_base_s: 0}}]}
  two_steps:
    steps:
      - {name: draft, targets: [mini]}
      - {name: polish, targets: [claude], system: "Polish the draft."}
  capped_refuse:
    max_cost_usd: 0.0000001
    steps: [{name: answer, targets: [mini, free]}]
  capped_trip:
    steps: [{name: answer, targets: [overrunner], max_cost_usd: 0.00006, max_output_tokens: 10}]
  slow: {steps: [{name: answer, targets: [slowpoke]}]}
"""


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = event_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


async def _events_of_every_kind() -> list[Event]:
    loaded = loads_profile(PROFILE)
    seen: list[Event] = []
    async with Engine(loaded) as engine:
        for route in ("fallback", "two_steps", "capped_refuse", "capped_trip", "tools"):
            seen.extend([e async for e in engine.run(f"explain {route}", route=route, metadata={"team": "qa"})])
        token = CancelToken()
        tokens = 0
        async for event in engine.run("a long answer please", route="slow", cancel=token):
            seen.append(event)
            if event.type == "token":
                tokens += 1
                if tokens == 5:
                    asyncio.get_running_loop().call_later(0.05, token.cancel)
    with tempfile.TemporaryDirectory() as tmp:  # a damaged index cache is rebuilt, with a `progress` note
        corpus = Path(tmp) / "docs"
        corpus.mkdir()
        (corpus / "refunds.md").write_text("Refunds take five days.\n")
        cache = index_path(corpus, 400)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(b"not a database " * 100)
        route = f"routes:\n  find: {{steps: [{{kind: retrieve, name: find, corpus: '{corpus}'}}, {{name: a, targets: [mini]}}]}}\n"
        async with Engine(loads_profile(PROFILE.replace("routes:\n", route, 1))) as engine:
            seen.extend([e async for e in engine.run("refunds", route="find")])
    return seen


async def test_every_engine_event_validates_and_round_trips(validator: jsonschema.Draft202012Validator) -> None:
    events = await _events_of_every_kind()
    assert {e.type for e in events} == set(EVENT_TYPES)
    actions = {e.action for e in events if e.type == "decision"}
    assert {"fallback", "refuse"} <= actions
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert {"ok", "cancelled", "error"} <= {r.status for r in finished}
    hop_statuses = {e.status for e in events if isinstance(e, HopFinished)}
    assert {"ok", "error", "skipped", "cancelled"} <= hop_statuses
    for event in events:
        data = event.to_dict()
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], (data["type"], errors)
        assert data["schema_version"] == 3
        back = Event.from_dict(json.loads(json.dumps(data)))
        assert back == event, data["type"]
        assert type(back) is type(event)
        if isinstance(event, HopFinished | RunFinished):
            assert isinstance(back.cost_usd, Decimal) and back.cost_usd == event.cost_usd
            assert back.ts == event.ts


def test_schema_rejects_what_the_contract_forbids(validator: jsonschema.Draft202012Validator) -> None:
    good = HopFinished(run_id="r", hop_id="r.1", cost_usd=Decimal("0.5")).to_dict()
    assert list(validator.iter_errors(good)) == []
    for key, bad in (
        ("status", "exploded"),
        ("kind", "teleport"),
        ("error_class", "gremlins"),
        ("cost", {"total": 0.5}),  # money is decimal text, never a float
        ("schema_version", 1),
        ("attempt", "one"),
    ):
        assert list(validator.iter_errors({**good, key: bad})), key
    assert list(validator.iter_errors({**good, "type": "mystery"}))


def test_events_schema_command_and_run_json_lines_validate(validator: jsonschema.Draft202012Validator) -> None:
    env = dict(os.environ)
    printed = subprocess.run(
        [sys.executable, "-m", "workbench", "events", "schema"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == json.loads(json.dumps(event_schema()))
    run = subprocess.run(
        [sys.executable, "-m", "workbench", "run", "--profile", "profiles/demo.yaml", "--route", "fallback"]
        + ["--json", "--sim-fault", "swift=http_503", "why is the sky blue?"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) > 5
    for line in lines:
        data = json.loads(line)
        assert [e.message for e in validator.iter_errors(data)] == [], data["type"]
        assert Event.from_dict(data).to_dict()["type"] == data["type"]


def test_saved_v2_lines_still_validate_and_parse(validator: jsonschema.Draft202012Validator) -> None:
    lines = (Path(__file__).parent / "data" / "events_v2.jsonl").read_text().splitlines()
    kinds = set()
    for line in lines:
        data = json.loads(line)
        assert data["schema_version"] == 2
        assert [e.message for e in validator.iter_errors(data)] == [], data["type"]
        event = Event.from_dict(data)
        kinds.add(event.type)
        if isinstance(event, HopFinished):
            assert event.finish_reason is None  # a v2 line has none: the v3 field defaults
    assert {"run_started", "hop_started", "token", "hop_finished", "decision", "run_finished"} <= kinds
    # a v3-only event claiming to be v2 is not valid
    v3_only = {"type": "tool_call", "schema_version": 2, "run_id": "r", "ts": 1.0, "hop_id": "r.1"}
    v3_only |= {"index": 0, "call_id": "c", "name": "f", "arguments": "{}"}
    assert list(validator.iter_errors(v3_only))
    assert list(validator.iter_errors({**v3_only, "schema_version": 3})) == []
