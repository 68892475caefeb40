"""A timeout caused by our own blocked event loop is `client_overloaded` — an `overload` decision, not the
provider's fault, not counted against its breaker."""

from __future__ import annotations

import asyncio
import time

from tests.engine.resilience_helpers import attempts, decisions
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile

PROFILE = """
name: overload-tests
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 0.3, idle: 0.3, total: 5}}
models:
  slow: {provider: oai, model: sim-slow, prices: [{input: 1, output: 2}], sim: {ttft_ms: 2000}}
  good: {provider: oai, model: sim-good, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000}}
routes:
  main: {breaker: {failures: 1}, steps: [{name: answer, targets: [slow, good]}]}
"""


async def test_a_timeout_that_fires_late_is_the_clients_overload_not_the_providers() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        events = []
        async for event in engine.run("hi", route="main"):
            events.append(event)
            if event.type == "hop_started" and event.kind == "attempt" and event.name == "slow":
                # 0.1 s into the wait something hogs the loop for 0.8 s: the 0.3 s first-token timer fires ~0.6 s late
                asyncio.get_running_loop().call_later(0.1, time.sleep, 0.8)
        first, second = attempts(events)
        assert first.error_class == "client_overloaded" and "late" in first.error
        (overload,) = decisions(events, "overload")
        assert overload.target == "slow"
        assert second.name == "good" and events[-1].status == "ok"
        assert health.snapshot()["oai/sim-slow"]["state"] == "closed"  # one failure would have opened it

        events = [e async for e in engine.run("hi", route="main")]  # the same, on time: the provider's timeout
        assert attempts(events)[0].error_class == "timeout"
        await asyncio.sleep(0)
        assert health.snapshot()["oai/sim-slow"]["state"] == "open"


async def test_a_loop_saturated_by_many_short_blocks_is_the_clients_overload_too() -> None:
    """No single block is long enough to make the timer late by the 0.25 s that says so (each is 0.1 s), but
    together they keep the loop from serving most of the wait: the timeout is still ours (issue 12 item 9: 100
    runs at once in one process do exactly this)."""
    health.reset()
    loop = asyncio.get_running_loop()
    hogging = True

    def hog() -> None:
        if hogging:
            time.sleep(0.1)
            loop.call_later(0.01, hog)

    profile = PROFILE.replace("first_token: 0.3", "first_token: 1.5")  # a wait long enough to be mostly blocked
    async with Engine(loads_profile(profile)) as engine:
        await engine.ready()
        events = []
        async for event in engine.run("hi", route="main"):
            events.append(event)
            if event.type == "hop_started" and event.kind == "attempt" and event.name == "slow":
                loop.call_soon(hog)
            elif event.type == "hop_finished" and event.kind == "attempt":
                hogging = False
        first, second = attempts(events)
        assert first.error_class == "client_overloaded" and "fell" in first.error and "behind" in first.error
        (overload,) = decisions(events, "overload")
        assert overload.target == "slow" and second.name == "good" and events[-1].status == "ok"
        assert health.snapshot()["oai/sim-slow"]["state"] == "closed"  # one failure would have opened it
