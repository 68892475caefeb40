"""Admission control (`engine.max_concurrent_runs`): with a limit of N and 3N runs at once, at most N are in flight
at any moment (seen from the events alone), the others wait first in first out with `queue` events saying their
position and wait, and the wait never counts against a provider's first-token timeout — but it does count against
the run's latency budget: a budget that ends in the queue ends the run with a clear error."""

from __future__ import annotations

import asyncio

from tests.engine.resilience_helpers import attempts, decisions
from workbench.engine import Engine, health
from workbench.engine.cancel import CancelToken
from workbench.errors import ProfileError
from workbench.profiles.load import loads_profile

N = 4
# Each call takes ~300 ms to its first token; the first-token timeout is 600 ms. The third wave of runs waits
# ~600 ms for a slot and then ~300 ms for its token: were the wait counted, every one of them would time out.
PROFILE = f"""
name: admission-tests
engine: {{max_concurrent_runs: {N}}}
providers:
  oai: {{kind: sim, wire: openai, timeouts: {{first_token: 0.6, idle: 1, total: 5}}}}
models:
  slow: {{provider: oai, model: sim-slow, prices: [{{input: 1, output: 2}}], sim: {{ttft_ms: 300, tokens_per_s: 100000}}}}
routes:
  main: {{retry: {{max_attempts: 1}}, steps: [{{name: answer, targets: [slow]}}]}}
  tight: {{budget: {{latency_ms: 250}}, steps: [{{name: answer, targets: [slow]}}]}}
"""


async def test_3n_runs_at_most_n_in_flight_waiters_in_fifo_order_and_no_timeout_charged() -> None:
    health.reset()
    log: list[tuple[int, str, object]] = []  # (run number, what, detail) in the order the consumers saw them

    async def one(engine: Engine, i: int) -> list:
        events = []
        async for event in engine.run(f"question {i}", route="main"):
            events.append(event)
            if event.type == "hop_started" and event.kind == "step":
                log.append((i, "admitted", None))
            elif event.type == "decision" and event.action == "queue":
                log.append((i, "queued", event.data["position"]))
            elif event.type == "run_finished":
                log.append((i, "finished", None))
        return events

    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        runs = await asyncio.wait_for(asyncio.gather(*(one(engine, i) for i in range(3 * N))), timeout=30)
        assert engine.admission.peak == N and engine.admission.in_flight == 0

    assert [r[-1].status for r in runs] == ["ok"] * (3 * N)
    in_flight = peak = 0
    for _, what, _ in log:
        in_flight += {"admitted": 1, "finished": -1}.get(what, 0)
        peak = max(peak, in_flight)
    assert peak == N

    # 2N runs waited, with positions 1..2N in the order they arrived; they were admitted in that same order
    queued = {i: pos for i, what, pos in log if what == "queued"}
    assert sorted(queued.values()) == list(range(1, 2 * N + 1))
    admitted_waiters = [i for i, what, _ in log if what == "admitted" and i in queued]
    assert [queued[i] for i in admitted_waiters] == list(range(1, 2 * N + 1))

    for i, events in enumerate(runs):
        (hop,) = attempts(events)
        assert hop.status == "ok" and hop.error_class is None  # no provider timeout charged to anyone
        if i in queued:
            (decision,) = decisions(events, "queue")
            assert decision.data["scope"] == "admission" and decision.data["limit"] == N
            (wait,) = [e for e in events if e.type == "hop_finished" and e.kind == "queue"]
            assert wait.name == "admission" and wait.status == "ok" and wait.data["position"] == queued[i]
            assert wait.latency_ms >= 200  # it waited at least most of one call (~300 ms) for its slot
    third_wave = [runs[i] for i, pos in queued.items() if pos > N]
    # the last wave waited ~2 calls for admission, far past the 600 ms first-token timeout, yet was not timed out
    assert all(r[-1].latency_ms > 700 and attempts(r)[0].ttft_ms < 600 for r in third_wave)
    assert health.snapshot()["oai/sim-slow"]["errors"] == 0


async def test_a_budget_that_ends_in_the_admission_queue_ends_the_run_with_a_clear_error() -> None:
    profile = PROFILE.replace(f"max_concurrent_runs: {N}", "max_concurrent_runs: 1")
    async with Engine(loads_profile(profile)) as engine:
        await engine.ready()
        holder = asyncio.ensure_future(_collect(engine, "main"))
        while engine.admission.in_flight == 0:  # let the first run take the one slot
            await asyncio.sleep(0)
        events = await asyncio.wait_for(_collect(engine, "tight"), timeout=10)
        assert (await holder)[-1].status == "ok"
    final = events[-1]
    assert final.status == "error"
    assert "latency budget of 250 ms ran out" in final.error and "waiting for admission" in final.error
    assert final.reason == "latency budget spent waiting for admission"
    assert 250 <= final.latency_ms <= 250 + 100 + 100  # the budget, its stated tolerance, slack for this machine
    (wait,) = [e for e in events if e.type == "hop_finished" and e.kind == "queue"]
    assert wait.status == "timeout" and wait.error_class == "budget"
    assert attempts(events) == []  # no call was started that the budget could not cover


async def test_a_run_cancelled_while_waiting_for_admission_ends_cancelled_and_frees_its_place() -> None:
    profile = PROFILE.replace(f"max_concurrent_runs: {N}", "max_concurrent_runs: 1")
    async with Engine(loads_profile(profile)) as engine:
        await engine.ready()
        holder = asyncio.ensure_future(_collect(engine, "main"))
        while engine.admission.in_flight == 0:
            await asyncio.sleep(0)
        token = CancelToken()
        events = []
        async for event in engine.run("never mind", route="main", cancel=token):
            events.append(event)
            if event.type == "hop_started" and event.kind == "queue":
                assert engine.admission.waiting == 1
                # from elsewhere (a key press in the TUI), while the run awaits its slot
                asyncio.get_running_loop().call_later(0.05, token.cancel)
        assert engine.admission.waiting == 0
        assert (await holder)[-1].status == "ok"
        assert engine.admission.in_flight == 0
    assert events[-1].status == "cancelled" and attempts(events) == []
    (wait,) = [e for e in events if e.type == "hop_finished" and e.kind == "queue"]
    assert wait.status == "cancelled"


def test_the_limit_is_validated_with_its_place_in_the_file() -> None:
    for bad, expected in (("0", "at least 1"), ("100000", "at most 10000"), ("lots", "expected")):
        text = PROFILE.replace(f"max_concurrent_runs: {N}", f"max_concurrent_runs: {bad}")
        try:
            loads_profile(text)
        except ProfileError as exc:
            assert "engine.max_concurrent_runs" in str(exc) and expected in str(exc), str(exc)
            assert ":3:" in str(exc)  # line 3 of the text, where `engine:` is
        else:
            raise AssertionError(f"max_concurrent_runs: {bad} was accepted")


async def _collect(engine: Engine, route: str) -> list:
    return [e async for e in engine.run("hi", route=route)]


def test_each_providers_pool_is_sized_to_the_runs_admitted_and_the_calls_one_run_can_make() -> None:
    from workbench.engine.admission import calls_per_run, sized_pool

    plain = loads_profile(PROFILE).profile
    assert calls_per_run(plain) == 1
    assert sized_pool(plain, "oai").max_connections == N  # N runs, one call each at a time (not the default 100)
    fan_out = PROFILE.replace(
        "  tight:",
        "  wide: {steps: [{name: both, kind: parallel, targets: [slow, slow, slow]}]}\n"
        "  hedged: {hedge: {after_ms: 100, max_parallel: 2}, steps: [{name: answer, targets: [slow, slow]}]}\n"
        "  tight:",
    )
    wide = loads_profile(fan_out).profile
    assert calls_per_run(wide) == 3 * 2  # a three-way parallel step, and a hedge may double any call
    assert sized_pool(wide, "oai").max_connections == N * 6
    big = loads_profile(PROFILE.replace(f"max_concurrent_runs: {N}", "max_concurrent_runs: 500")).profile
    assert sized_pool(big, "oai").max_connections == 100  # never more than the provider's own max_connections


async def test_a_consumer_that_walks_away_mid_wait_gives_its_place_back() -> None:
    profile = PROFILE.replace(f"max_concurrent_runs: {N}", "max_concurrent_runs: 1")
    async with Engine(loads_profile(profile)) as engine:
        await engine.ready()
        holder = asyncio.ensure_future(_collect(engine, "main"))
        while engine.admission.in_flight == 0:
            await asyncio.sleep(0)
        run = engine.run("never mind", route="main")
        async for event in run:
            if event.type == "hop_started" and event.kind == "queue":
                break
        assert engine.admission.waiting == 1
        await run.aclose()  # the consumer closes the run while it waits
        assert engine.admission.waiting == 0
        # a consumer whose task is cancelled while its run waits gives its place back too
        waiter = asyncio.ensure_future(_collect(engine, "main"))
        while engine.admission.waiting == 0:
            await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert engine.admission.waiting == 0
        assert (await holder)[-1].status == "ok"
        assert engine.admission.in_flight == 0  # no slot was leaked: the next run starts at once
        events = await _collect(engine, "main")
        assert events[-1].status == "ok" and not [e for e in events if e.type == "hop_started" and e.kind == "queue"]
