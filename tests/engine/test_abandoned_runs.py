"""A run whose consumer walks away (closes the engine's generator, as a client that hangs up) leaves nothing
behind in the process-wide target health (issue 24 item 4: one engine lives for days).

An attempt is counted in flight (and, half-open, as its breaker's one probe) when it is planned, before its
`hop_started` is yielded. A consumer that left at that `hop_started` used to leave the count up for ever (one per
such run, skewing `least_busy` balancing and the health panel) and, for a probe, the breaker half-open with a
probe "in flight" that never ends: every later call to that target was skipped for the life of the process."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from tests.engine.resilience_helpers import attempts, collect
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile

PROFILE = """
name: abandon-tests
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 2, idle: 1, total: 10}}
models:
  down:
    provider: oai
    model: sim-down
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, faults: [{kind: http_503}]}
  slow:
    provider: oai
    model: sim-slow
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 2000, tokens_per_s: 100000, answer_tokens: 20}
  good:
    provider: oai
    model: sim-good
    prices: [{input: 3, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
routes:
  main:
    breaker: {failures: 2, window_s: 30, open_s: 0.3, open_cap_s: 0.6}
    steps: [{name: answer, targets: [down, good]}]
  plain: {steps: [{name: answer, targets: [good]}]}
  hedged: {steps: [{name: answer, targets: [slow, good], hedge: {after_ms: 20}}]}
"""


async def _settled(predicate) -> bool:  # type: ignore[no-untyped-def]
    """Wait (on the state, at most 5 s) until `predicate()`: a closed run's inner generators are finalized by the
    event loop's async-generator hook, a few loop turns after the consumer left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def _walk_away_at(engine: Engine, route: str, hop_started) -> None:  # type: ignore[no-untyped-def]
    """Run `route` and close the generator at the first attempt `hop_started` that `hop_started(event)` accepts."""
    async with aclosing(engine.run("hi", route=route)) as run:
        async for event in run:
            if event.type == "hop_started" and event.kind == "attempt" and hop_started(event):
                return
    raise AssertionError("the run ended before the hop it was to be abandoned at")


async def test_runs_abandoned_at_an_attempts_start_leave_no_call_in_flight() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        for _ in range(10):
            await _walk_away_at(engine, "plain", lambda e: True)
        for _ in range(10):  # at the hedge's own start (the primary is still waiting for its first token)
            await _walk_away_at(engine, "hedged", lambda e: e.role == "hedge")
        in_flight = lambda: {k: h.in_flight for k, h in health._targets.items()}  # noqa: E731
        await _settled(lambda: not any(in_flight().values()))
        assert in_flight() == {"oai/sim-good": 0, "oai/sim-slow": 0}


async def test_a_probe_abandoned_at_its_start_does_not_leave_the_breaker_stuck() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        for _ in range(2):  # two 503s open the breaker
            await collect(engine, "hi", route="main")
        assert health.snapshot()["oai/sim-down"]["state"] == "open"
        await asyncio.sleep(0.35)  # half-open: the next call to `down` is its probe
        await _walk_away_at(engine, "main", lambda e: e.name == "down")
        assert await _settled(lambda: not health.get("oai/sim-down").probing)
        events = await collect(engine, "hi", route="main")  # so the next run probes it again (not a skip)
    assert [(h.name, h.status) for h in attempts(events)] == [("down", "error"), ("good", "ok")]
