"""Governance refusing some of a step's targets must not shift the others' places: `target_index` and per-target
policies keep referring to the target's index in the profile's own list (issue 13)."""

from __future__ import annotations

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine
from workbench.profiles.load import loads_profile
from workbench.profiles.resolve import resolve

FAST = "ttft_ms: 0, tokens_per_s: 100000"
PROFILE = f"""
name: governance-index
sim: {{seed: 3}}
providers:
  local: {{kind: sim, wire: openai}}
  outside: {{kind: sim, wire: openai, tags: [external]}}
models:
  a:
    provider: outside
    model: sim-a
    prices: [{{input: 1, output: 2}}]
    sim: {{{FAST}, answer_tokens: 10}}
  b:
    provider: local
    model: sim-b
    prices: [{{input: 1, output: 2}}]
    sim: {{{FAST}, answer_tokens: 10, faults: [{{kind: http_500}}]}}
  c:
    provider: local
    model: sim-c
    prices: [{{input: 1, output: 2}}]
    sim: {{{FAST}, answer_tokens: 10, faults: [{{kind: http_500}}]}}
routes:
  default:
    steps:
      - name: answer
        allow: {{deny_tags: [external]}}
        retry: {{max_attempts: 1, backoff_base_s: 0, backoff_cap_s: 0}}
        targets:
          - a
          - b
          - {{model: c, retry: {{max_attempts: 3}}}}
"""


async def test_refused_first_target_keeps_the_others_places_and_policies() -> None:
    loaded = loads_profile(PROFILE)
    # independently: what the profile says for each place in the list
    assert resolve(loaded.profile, "default", (0,), 1).retry.max_attempts == 1
    assert resolve(loaded.profile, "default", (0,), 2).retry.max_attempts == 3
    async with Engine(loaded) as engine:
        events = await collect(engine, "hello")
    hops = [(h.model, h.status, h.target_index, h.attempt) for h in attempts(events)]
    assert hops == [
        ("a", "skipped", 0, 1),  # refused by governance
        ("b", "error", 1, 1),  # the step's max_attempts 1: no retry, fall back
        ("c", "error", 2, 1),  # c's own retry policy (3 attempts) applies to c
        ("c", "error", 2, 2),
        ("c", "error", 2, 3),
    ]
    started = [(e.model, e.target_index) for e in events if e.type == "hop_started" and e.kind == "attempt"]
    assert started == [("b", 1), ("c", 2), ("c", 2), ("c", 2)]
    assert [d.target for d in decisions(events, "refuse")] == ["a"]
    assert len(decisions(events, "retry")) == 2
    assert events[-1].status == "error"
