"""Circuit breakers shared by every run in the process: open after K failures in W s, skip while open, one
half-open probe, re-open with the period doubled (up to its cap), close on a successful probe — each state seen in
`health.snapshot()` and each skip a decision plus a skipped attempt hop."""

from __future__ import annotations

import asyncio

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile

PROFILE = """
name: breaker-tests
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 2, idle: 1, total: 10}}
models:
  down:
    provider: oai
    model: sim-down
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, faults: [{kind: http_503}]}
  good:
    provider: oai
    model: sim-good
    prices: [{input: 3, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
routes:
  main:
    breaker: {failures: 2, window_s: 30, open_s: 0.4, open_cap_s: 0.8}
    steps: [{name: answer, targets: [down, good]}]
"""

KEY = "oai/sim-down"


async def test_breaker_opens_skips_half_opens_reopens_and_closes() -> None:
    loaded = loads_profile(PROFILE)
    async with Engine(loaded) as engine:
        for _ in range(2):  # two 503s within the window: the second opens the breaker
            events = await collect(engine, "hi", route="main")
            assert [h.name for h in attempts(events)] == ["down", "good"] and events[-1].status == "ok"
        snap = health.snapshot()[KEY]
        assert snap["state"] == "open" and snap["failures"] == 2 and snap["opened"] == 1
        assert 0.2 < snap["open_for_s"] <= 0.4
        assert snap["in_flight"] == 0 and snap["error_rate"] == 1.0

        events = await collect(engine, "hi", route="main")  # open: skipped without a call
        hops = attempts(events)
        assert [(h.name, h.status, h.error_class) for h in hops] == [
            ("down", "skipped", "breaker"),
            ("good", "ok", None),
        ]
        (skip,) = decisions(events, "skip")
        assert skip.target == "down" and skip.data["state"] == "open" and skip.data["failures"] == 2
        assert skip.data["open_until"] > events[0].ts
        good = health.snapshot()["oai/sim-good"]
        assert good["state"] == "closed" and good["calls"] == 3 and good["ewma_latency_ms"] > 0

        await asyncio.sleep(0.45)  # the open period (0.4 s) is over: the next call is the half-open probe
        assert health.snapshot()[KEY]["state"] == "half_open"
        events = await collect(engine, "hi", route="main")
        assert [(h.name, h.status) for h in attempts(events)] == [("down", "error"), ("good", "ok")]
        snap = health.snapshot()[KEY]  # the probe failed: open again for twice as long (0.8 s, the cap)
        assert snap["state"] == "open" and snap["opened"] == 2 and 0.6 < snap["open_for_s"] <= 0.8

    await asyncio.sleep(0.85)
    # The same target (provider oai, model sim-down) has recovered: another profile's run probes it and closes it.
    healed = loads_profile(PROFILE.replace("faults: [{kind: http_503}]", "tokens_per_s: 100000, answer_tokens: 5"))
    async with Engine(healed) as engine:
        events = await collect(engine, "hi", route="main")
    assert [(h.name, h.status) for h in attempts(events)] == [("down", "ok")]
    snap = health.snapshot()[KEY]
    assert snap["state"] == "closed" and snap["failures"] == 0 and snap["in_flight"] == 0


async def test_a_refused_request_does_not_count_against_the_breaker() -> None:
    text = PROFILE.replace("faults: [{kind: http_503}]", "context_window: 3")
    async with Engine(loads_profile(text)) as engine:
        for _ in range(3):
            events = await collect(engine, "a prompt longer than three tokens for sure", route="main")
            assert attempts(events)[0].error_class == "context_window"
    assert health.snapshot()[KEY]["state"] == "closed"
