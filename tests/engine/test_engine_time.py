"""`engine_ms` on an attempt: the engine's own time, apart from the provider's and the caller's.

An attempt's wall time has three parts: waiting for the provider's bytes, the caller's own code between two events
(the engine is an async generator: while the caller holds an event, the engine is not running), and the engine's
work. Only the last is orchestration overhead (field notes: users ask for the router's overhead per hop, apart
from the provider's time). Here the provider is made slow and the caller is made slow, each by a known amount far
larger than anything the engine does, so a wrong split would show."""

from __future__ import annotations

import time

from tests.engine.resilience_helpers import attempts
from workbench.engine import Engine
from workbench.profiles.load import loads_profile

PROFILE = """
name: engine-time
providers:
  oai: {kind: sim}
models:
  slow: {provider: oai, model: sim-slow, prices: [{input: 1, output: 2}], sim: {ttft_ms: 300, tokens_per_s: 100, answer_tokens: 12}}
  fast: {provider: oai, model: sim-fast, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 12}}
routes:
  slow: {steps: [{name: answer, targets: [slow]}]}
  fast: {steps: [{name: answer, targets: [fast]}]}
"""

ENGINE_CEILING_MS = 15.0  # a 12-token hop is ~0.05 ms of engine work; 15 ms leaves room for a loaded machine


async def test_a_slow_provider_is_not_counted_as_engine_time() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        events = [e async for e in engine.run("hi", route="slow")]
    (hop,) = attempts(events)
    assert hop.status == "ok" and hop.latency_ms >= 300 + 100  # 300 ms to the first token, then ~10 ms a token
    assert hop.engine_ms is not None and 0 < hop.engine_ms < ENGINE_CEILING_MS


async def test_a_slow_caller_is_not_counted_as_engine_time() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        held = 0
        hop = None
        async for event in engine.run("hi", route="fast"):
            if event.type == "token":
                time.sleep(0.02)  # the caller's own work, blocking: 20 ms per token, inside the attempt's wall time
                held += 1
            if event.type == "hop_finished" and event.kind == "attempt":
                hop = event
    assert hop is not None and held >= 5
    assert hop.latency_ms >= held * 20 - 1
    assert hop.engine_ms is not None and 0 < hop.engine_ms < ENGINE_CEILING_MS


async def test_only_attempts_carry_engine_time_and_it_reaches_json() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        events = [e async for e in engine.run("hi", route="fast")]
    finished = [e for e in events if e.type == "hop_finished"]
    assert {e.kind for e in finished if e.engine_ms is not None} == {"attempt"}
    (hop,) = attempts(events)
    assert hop.to_dict()["engine_ms"] == hop.engine_ms and hop.engine_ms <= hop.latency_ms


CONCURRENT = """
name: engine-time-concurrent
providers:
  oai: {kind: sim}
models:
  sluggish: {provider: oai, model: sim-sluggish, prices: [{input: 1, output: 2}], sim: {ttft_ms: 400, tokens_per_s: 200, answer_tokens: 12}}
  quick: {provider: oai, model: sim-quick, prices: [{input: 1, output: 2}], sim: {ttft_ms: 50, tokens_per_s: 200, answer_tokens: 12}}
routes:
  hedged: {steps: [{name: answer, targets: [sluggish, quick], hedge: {after_ms: 100}}]}
  fanout: {steps: [{name: both, kind: parallel, targets: [sluggish, quick], merge: all}]}
"""


async def test_hedged_and_parallel_attempts_measure_engine_time_under_a_slow_caller() -> None:
    """Issue 20 item 24: under `--json` (a caller that spends time on every event) hedged and parallel attempts
    reported `engine_ms: 0.0`: they run in tasks of their own, so the caller's time overlapped their waits, and
    was subtracted from their wall time anyway. Each now reports its own work: above zero, under the ceiling."""
    async with Engine(loads_profile(CONCURRENT)) as engine:
        for route in ("hedged", "fanout"):
            events = []
            async for event in engine.run("hi", route=route):
                events.append(event)
                time.sleep(0.005)  # the caller's own work on every event, blocking (as writing JSON lines)
            hops = attempts(events)
            assert len(hops) == 2 and events[-1].status == "ok", route
            for hop in hops:
                assert hop.engine_ms is not None and 0 < hop.engine_ms < ENGINE_CEILING_MS, (route, hop.engine_ms)
