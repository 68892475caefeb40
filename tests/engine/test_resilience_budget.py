"""Latency budgets: a deadline the engine enforces. A step whose primary hangs ends by its budget plus the stated
tolerance, `degraded` with the best answer so far; a known-slow target is not started when it cannot fit and the
fast fallback answers instead."""

from __future__ import annotations

import time

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile

PROFILE = """
name: budget-tests
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 30, idle: 30, total: 60}}
models:
  hanger:
    provider: oai
    model: sim-hanger
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, faults: [{kind: hang}]}
  slow:
    provider: oai
    model: sim-slow
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}
  quick:
    provider: oai
    model: sim-quick
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}
routes:
  hang:
    steps:
      - {name: draft, targets: [quick]}
      - {name: answer, targets: [hanger, quick], budget: {latency_ms: 1500}}
  run_budget:
    budget: {latency_ms: 1500}
    steps: [{name: answer, targets: [hanger]}]
  fast:
    steps: [{name: answer, targets: [slow, quick], budget: {latency_ms: 1000, fast_fallback: quick}}]
"""


async def test_a_hanging_primary_ends_the_step_degraded_by_its_budget() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        t0 = time.monotonic()
        events = await collect(engine, "hello", route="hang")
        elapsed = time.monotonic() - t0
    draft, hung = attempts(events)
    assert draft.name == "quick" and draft.status == "ok"
    assert hung.name == "hanger" and hung.status == "timeout"
    assert 1.4 <= hung.latency_ms / 1000 <= 1.6
    (degrade,) = decisions(events, "degrade")
    assert "latency budget of 1500 ms ran out during hanger" in degrade.reason
    final = events[-1]
    assert final.status == "degraded" and final.error is None
    assert final.output == draft.output  # the best answer so far: the earlier step's
    assert "1500 ms" in final.reason
    assert elapsed < 1.5 + 0.1 + 0.5  # the step's budget, its tolerance, and the draft step before it
    assert health.snapshot()["oai/sim-hanger"]["failures"] == 0  # our deadline, not the provider's fault


async def test_a_route_budget_bounds_the_whole_run() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        t0 = time.monotonic()
        events = await collect(engine, "hello", route="run_budget")
        elapsed = time.monotonic() - t0
    assert events[-1].status == "degraded" and events[-1].output == ""
    assert elapsed <= 1.5 + 0.1 + 0.1, elapsed


async def test_a_target_too_slow_for_what_is_left_goes_to_the_fast_fallback() -> None:
    health.get("oai/sim-slow").ewma_latency_ms = 5000.0  # measured slow lately: 5 s does not fit a 1 s budget
    async with Engine(loads_profile(PROFILE)) as engine:
        events = await collect(engine, "hello", route="fast")
    assert [(h.name, h.status) for h in attempts(events)] == [("quick", "ok")]
    (move,) = decisions(events, "budget")
    assert move.target == "quick" and move.data["expected_ms"] == 5000.0
    assert events[-1].status == "ok"


async def test_a_hanging_primary_is_cut_to_leave_time_for_the_fast_fallback() -> None:
    # budget 1000 ms, quick never measured: half the budget (500 ms) is kept for it, so hanger is cut at ~500 ms
    text = PROFILE.replace(
        "targets: [slow, quick], budget: {latency_ms: 1000", "targets: [hanger, slow], budget: {latency_ms: 1000"
    )
    async with Engine(loads_profile(text)) as engine:
        await engine.ready()
        t0 = time.monotonic()
        events = await collect(engine, "hello", route="fast")
        elapsed = time.monotonic() - t0
    hops = attempts(events)
    assert [(h.name, h.status) for h in hops] == [("hanger", "timeout"), ("quick", "ok")]
    assert 450 <= hops[0].latency_ms <= 650
    (move,) = decisions(events, "budget")
    assert move.target == "quick" and move.data["cut"] == "hanger"
    assert events[-1].status == "ok" and elapsed < 1.0 + 0.1
