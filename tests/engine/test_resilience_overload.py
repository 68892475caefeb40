"""A timeout counts the provider's own wait: the time this process's event loop could not serve the attempt is
subtracted from it (issue 20 item 16). A block of the loop during a wait extends the wait by as much, so a slow
first token inside its timeout is never cut, and a provider that never answers is still the provider's `timeout`
(not relabelled `client_overloaded`); a block before the wait began does not count at all. Only an attempt cut at
its hard stop while the provider's own wait was under its limit is `client_overloaded` — an `overload` decision,
not counted against the provider's breaker.

Lag is made deterministically: a callback that blocks the loop for a known time (`time.sleep`, which lets the
simulator's thread go on serving meanwhile)."""

from __future__ import annotations

import asyncio
import time

from tests.engine.resilience_helpers import attempts, decisions
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile

PROFILE = """
name: overload-tests
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 1, idle: 0.5, total: 10}}
models:
  hang: {provider: oai, model: sim-hang, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, faults: [{kind: hang}]}}
  slow: {provider: oai, model: sim-slow, prices: [{input: 1, output: 2}], sim: {ttft_ms: 600, tokens_per_s: 2000}}
  good: {provider: oai, model: sim-good, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000}}
routes:
  hang: {breaker: {failures: 1}, steps: [{name: answer, targets: [hang, good]}]}
  slow: {breaker: {failures: 1}, steps: [{name: answer, targets: [slow, good]}]}
"""


async def _run(engine: Engine, route: str, on_start=None) -> list:
    """One run; `on_start(loop)` is called when its first attempt's hop starts (before its call is made)."""
    events = []
    async for event in engine.run("hi", route=route):
        events.append(event)
        if on_start is not None and event.type == "hop_started" and event.kind == "attempt" and event.name == route:
            on_start(asyncio.get_running_loop())
    return events


async def test_a_hang_is_the_providers_timeout_though_the_loop_was_blocked_during_the_wait() -> None:
    """A 0.5 s block inside a 1 s first-token wait of a provider that never answers: the wait is extended by the
    block (the provider gets its whole second) and then it is the provider's timeout, counted against its breaker
    — the block does not turn a timeout that would have fired anyway into `client_overloaded`."""
    health.reset()
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        events = await _run(engine, "hang", lambda loop: loop.call_later(0.1, time.sleep, 0.5))
        first, second = attempts(events)
        assert first.error_class == "timeout", first.error
        assert "no first token within 1s (first token timeout;" in first.error, first.error
        assert "event loop was busy were not counted" in first.error
        # cut when the provider had had its own 1 s: 1 s plus the 0.5 s block (less a sample period), not before
        assert 1400 <= first.latency_ms < 4000, first.latency_ms
        assert not decisions(events, "overload")
        assert second.name == "good" and events[-1].status == "ok"
        await asyncio.sleep(0)
        assert health.snapshot()["oai/sim-hang"]["state"] == "open"  # failures: 1 — the provider's failure


async def test_a_block_before_the_wait_began_does_not_count_toward_it() -> None:
    """The loop blocked for 1 s just before the call (as while tokenizer tables load at start-up): the lag sample
    that was due during the block runs only after the attempt started. It is not the attempt's: a provider that
    never answers is cut at 1 s as its own `timeout`."""
    health.reset()
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        events = await _run(engine, "hang", lambda loop: time.sleep(1.0))
        first, _ = attempts(events)
        assert first.error_class == "timeout", first.error
        assert first.error.endswith(": no first token within 1s (first token timeout)"), first.error
        assert 950 <= first.latency_ms < 1400, first.latency_ms  # not extended: nothing lagged inside the wait


async def test_a_slow_first_token_inside_its_timeout_is_not_cut_by_a_block_over_the_deadline() -> None:
    """The provider sends its first token at 0.6 s of a 1 s timeout, while the loop is blocked from 0.3 s to 1.3 s
    (the token waits in the socket). When the loop wakes, the deadline has passed in wall time, but the provider
    answered within it: the attempt is not cut, it streams its answer, no fallback."""
    health.reset()
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        events = await _run(engine, "slow", lambda loop: loop.call_later(0.3, time.sleep, 1.0))
        (only,) = attempts(events)
        assert only.name == "slow" and only.status == "ok", only.error
        assert only.output and events[-1].status == "ok"
        assert not decisions(events, "fallback") and not decisions(events, "overload")


async def test_a_caller_holding_a_token_past_the_idle_timeout_does_not_cut_the_stream() -> None:
    """The caller takes 1 s over a token (its own await, the loop free): the 0.5 s idle timeout measures the
    provider's silence while the attempt waits, not the caller's time with the answer."""
    health.reset()
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        events = []
        slept = False
        async for event in engine.run("hi", route="slow"):
            events.append(event)
            if event.type == "token" and not slept:
                slept = True
                await asyncio.sleep(1.0)
        (only,) = attempts(events)
        assert only.status == "ok", only.error
        assert events[-1].status == "ok"


async def test_a_loop_too_busy_to_ever_serve_the_wait_is_the_clients_overload() -> None:
    """The loop is kept ~97% busy (0.3 s blocks 0.01 s apart; the 50 ms sampler sees ~85% of it) for the whole
    wait: the provider's own wait grows ~0.15 s a second, so it never reaches the 1 s first-token timeout before the attempt's hard stop (twice its
    1.5 s total). Cut there, the timeout is ours: `client_overloaded`, an `overload` decision, the breaker (1
    failure opens it) stays closed, and the run falls back."""
    health.reset()
    loop = asyncio.get_running_loop()
    hogging = True

    def hog() -> None:
        if hogging:
            time.sleep(0.3)
            loop.call_later(0.01, hog)

    profile = PROFILE.replace("total: 10", "total: 1.5")
    async with Engine(loads_profile(profile)) as engine:
        await engine.ready()
        events = []
        async for event in engine.run("hi", route="hang"):
            events.append(event)
            if event.type == "hop_started" and event.kind == "attempt" and event.name == "hang":
                loop.call_soon(hog)
            elif event.type == "hop_finished" and event.kind == "attempt":
                hogging = False
        first, second = attempts(events)
        assert first.error_class == "client_overloaded", first.error
        assert "event loop was busy" in first.error and "hard stop" in first.error
        assert 2900 <= first.latency_ms < 5000, first.latency_ms  # the hard stop: 2 x 1.5 s
        (overload,) = decisions(events, "overload")
        assert overload.target == "hang" and second.name == "good" and events[-1].status == "ok"
        assert health.snapshot()["oai/sim-hang"]["state"] == "closed"  # one failure would have opened it
