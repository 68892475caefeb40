"""Hedged requests: no first token after `hedge.after_ms` starts the next target in parallel; the first to stream
wins, the loser is cancelled (the simulator sees its connection close) and its hop ends `superseded` with its
estimated cost counted; the hop costs add up to the run's cost exactly."""

from __future__ import annotations

import asyncio
import time

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine
from workbench.profiles.load import loads_profile

PROFILE = """
name: hedge-tests
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 5, idle: 2, total: 10}}
models:
  sluggish:
    provider: oai
    model: sim-sluggish
    tokenizer: o200k_base
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 3000, tokens_per_s: 100000, answer_tokens: 20}
  quick:
    provider: oai
    model: sim-quick
    tokenizer: o200k_base
    prices: [{input: 3, output: 4}]
    sim: {ttft_ms: 50, tokens_per_s: 100000, answer_tokens: 20}
routes:
  hedged: {steps: [{name: answer, targets: [sluggish, quick], hedge: {after_ms: 200}}]}
  fast_primary: {steps: [{name: answer, targets: [quick, sluggish], hedge: {after_ms: 400}}]}
"""


async def test_the_hedge_wins_and_the_loser_is_superseded_with_its_cost_counted() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        t0 = time.monotonic()
        events = await collect(engine, "hello", route="hedged")
        elapsed = time.monotonic() - t0
        sim = engine._sim
        deadline = time.monotonic() + 2.0
        while sim.hangup_count("sim-sluggish") < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert sim.hangup_count("sim-sluggish") == 1  # the server saw the loser's connection close
        assert sim.hangup_count("sim-quick") == 0
    (hedge,) = decisions(events, "hedge")
    assert hedge.target == "quick" and hedge.data["after_ms"] == 200.0
    started = [e for e in events if e.type == "hop_started" and e.kind == "attempt"]
    assert [(s.name, s.role, s.target_index) for s in started] == [("sluggish", None, 0), ("quick", "hedge", 1)]
    assert 0.19 <= started[1].ts - started[0].ts <= 0.35
    by_name = {h.name: h for h in attempts(events)}
    loser, winner = by_name["sluggish"], by_name["quick"]
    assert loser.status == "superseded" and "superseded" in loser.reason
    assert loser.cost_usd > 0 and loser.usage["input_source"] == "estimated"  # the prompt was sent: counted
    assert winner.status == "ok" and winner.role == "hedge"
    final = events[-1]
    assert final.status == "ok" and final.output == winner.output
    assert final.cost_usd == loser.cost_usd + winner.cost_usd
    assert sum(e.cost_usd for e in events if e.type == "hop_finished") == final.cost_usd
    tokens = {e.hop_id for e in events if e.type == "token"}
    assert tokens == {winner.hop_id}
    assert elapsed < 1.5  # not the 3 s the primary would have taken


async def test_no_hedge_when_the_primary_streams_in_time() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        events = await collect(engine, "hello", route="fast_primary")
    assert not decisions(events, "hedge")
    assert [(h.name, h.status) for h in attempts(events)] == [("quick", "ok")]


async def test_cancelling_a_hedged_run_closes_both_attempts_and_keeps_their_costs() -> None:
    from workbench.engine import CancelToken

    slow_both = PROFILE.replace("ttft_ms: 50, tokens_per_s", "ttft_ms: 3000, tokens_per_s")
    token = CancelToken()
    events = []
    async with Engine(loads_profile(slow_both)) as engine:
        t0 = time.monotonic()
        async for event in engine.run("hello", route="hedged", cancel=token):
            events.append(event)
            if event.type == "hop_started" and event.role == "hedge":
                asyncio.get_running_loop().call_later(0.1, token.cancel)
        elapsed = time.monotonic() - t0
    hops = attempts(events)
    assert sorted(h.status for h in hops) == ["cancelled", "cancelled"]
    assert all(h.cost_usd > 0 for h in hops)  # both prompts were sent: both counted
    final = events[-1]
    assert final.status == "cancelled" and final.cost_usd == sum(h.cost_usd for h in hops)
    assert elapsed < 1.5
