"""Load tests (issue 12): a primary with 20% mixed faults and a healthy fallback, retries and breakers on, the
simulator in this process. 300 runs at concurrency 50, and the issue's full scale, 1,000 at concurrency 100 (where,
before admission control, hundreds of runs failed on the healthy fallback's first-token timeout): every run ends
ok (the fallback is healthy: a failed run is a defect), the hop costs add up to the run costs exactly, nothing is
left in flight — no task, connection or file descriptor — and it all finishes in bounded time. With every call
failing and no fallback, every run ends with a clear error inside its latency budget."""

from __future__ import annotations

import asyncio
import os
import time
from decimal import Decimal

from tests.engine.resilience_helpers import attempts
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile
from workbench.profiles.models import DEFAULT_MAX_CONCURRENT_RUNS

PROFILE = """
name: load-tests
sim: {seed: 5}
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 2, idle: 1, total: 10}}
models:
  primary:
    provider: oai
    model: sim-primary
    tokenizer: o200k_base
    prices: [{input: 1, output: 2}]
    sim:
      ttft_ms: 0
      tokens_per_s: 100000
      answer_tokens: 20
      faults:
        - {kind: http_500, rate: 0.1}
        - {kind: http_429, rate: 0.0556, retry_after_s: 0.05}
        - {kind: drop, rate: 0.0589, after_tokens: 3}
  backup:
    provider: oai
    model: sim-backup
    tokenizer: o200k_base
    prices: [{input: 3, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
routes:
  main:
    retry: {max_attempts: 2, backoff_base_s: 0.02}
    breaker: {failures: 20, window_s: 5, open_s: 0.2}
    steps: [{name: answer, targets: [primary, backup]}]
"""

RUNS, CONCURRENCY = 300, 50


async def test_300_runs_at_concurrency_50_all_ok_with_exact_costs() -> None:
    loaded = loads_profile(PROFILE)
    finals: list = []
    hop_costs: list[Decimal] = []
    statuses: dict[str, int] = {}
    backup_failures: list[str] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(engine: Engine, i: int) -> None:
        async with gate:
            events = [e async for e in engine.run(f"question {i}", route="main")]
        finals.append(events[-1])
        for h in attempts(events):
            if h.name == "backup" and h.status != "ok":
                backup_failures.append(f"{h.status}: {h.error}")
            hop_costs.append(h.cost_usd)
            statuses[h.status] = statuses.get(h.status, 0) + 1
        assert sum(e.cost_usd for e in events if e.type == "hop_finished") == events[-1].cost_usd

    async with Engine(loaded) as engine:
        await engine.ready()
        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(engine, i) for i in range(RUNS))), timeout=60)
        elapsed = time.monotonic() - t0
    assert len(finals) == RUNS
    assert [f.status for f in finals].count("ok") == RUNS, [f.error for f in finals if f.status != "ok"][:3]
    assert sum(hop_costs) == sum(f.cost_usd for f in finals)
    assert statuses.get("error", 0) > 20  # the faults did happen (about 20% of ~300 primary calls)
    assert elapsed < 20, elapsed
    snap = health.snapshot()
    assert all(h["in_flight"] == 0 for h in snap.values())
    # The backup is healthy, but with the simulator in this process (one GIL) on a busy 2-core machine a call to
    # it may now and then see no first token within 2 s (issue 12 item 9: the client's own saturation, classified
    # as such when the loop fell behind). The runs still end ok (the last target's retry); what may not happen is
    # any other kind of failure, or many.
    assert all("no first token" in f or "client_overloaded" in f for f in backup_failures), backup_failures[:3]
    assert len(backup_failures) <= RUNS // 50, backup_failures[:3]


def _sockets() -> int:
    """Sockets this process holds (client and simulator sides alike: both live here)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # the fd listing itself, closed meanwhile
            pass
    return count


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _load(profile: str, runs: int, concurrency: int, route: str = "main") -> tuple[list, list, dict]:
    """`runs` runs, `concurrency` at a time, through one engine; returns (final events, attempt hops, figures)."""
    finals: list = []
    hops: list = []
    figures = {"queued": 0, "max_sockets": 0, "tasks_before": 0, "fds_before": 0, "sockets_before": 0}
    gate = asyncio.Semaphore(concurrency)
    figures["tasks_before"] = len(asyncio.all_tasks())
    figures["fds_before"], figures["sockets_before"] = _fds(), _sockets()

    async def one(engine: Engine, i: int) -> None:
        async with gate:
            events = [e async for e in engine.run(f"question {i}", route=route)]
        finals.append(events[-1])
        hops.extend(attempts(events))
        figures["queued"] += any(e.type == "hop_finished" and e.name == "admission" for e in events)
        assert sum(e.cost_usd for e in events if e.type == "hop_finished") == events[-1].cost_usd

    async with Engine(loads_profile(profile)) as engine:
        await engine.ready()
        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(engine, i) for i in range(runs))), timeout=90)
        figures["elapsed"] = time.monotonic() - t0
        figures["limit"], figures["peak"] = engine.admission.limit, engine.admission.peak
        figures["in_flight_after"], figures["waiting_after"] = engine.admission.in_flight, engine.admission.waiting
        figures["max_sockets"] = _sockets()  # kept-alive pool connections, both ends, plus the listener
    figures["tasks_after"] = len(asyncio.all_tasks())
    figures["fds_after"], figures["sockets_after"] = _fds(), _sockets()
    return finals, hops, figures


def _nothing_left_behind(figures: dict) -> None:
    assert figures["in_flight_after"] == 0 and figures["waiting_after"] == 0
    assert all(h["in_flight"] == 0 for h in health.snapshot().values())
    assert figures["tasks_after"] == figures["tasks_before"]
    assert figures["sockets_after"] == figures["sockets_before"], figures
    assert figures["fds_after"] == figures["fds_before"], figures


async def test_1000_runs_at_concurrency_100_all_ok_exact_costs_nothing_left_behind() -> None:
    health.reset()
    finals, hops, figures = await _load(PROFILE, 1000, 100)
    assert len(finals) == 1000
    assert [f.status for f in finals].count("ok") == 1000, [f.error for f in finals if f.status != "ok"][:3]
    assert sum(h.cost_usd for h in hops) == sum(f.cost_usd for f in finals)
    # the faults did happen: the primary failed, or its breaker (opened by those failures) passed it over
    assert sum(1 for h in hops if h.name == "primary" and h.status in ("error", "skipped")) > 100
    # admission: never more runs in flight than the engine's limit, and the rest waited their turn for it
    assert figures["peak"] == figures["limit"] == DEFAULT_MAX_CONCURRENT_RUNS
    assert figures["queued"] > 500
    # the healthy fallback is never blamed for the client's own saturation: with the limit it answers on time
    # (0 misses in every measurement here; without it 11-54 misses, hundreds of failed runs). On a machine busier
    # still, a miss may happen: it must then be classified as ours, never charged to the provider.
    backup_failures = [(h.error_class, h.error) for h in hops if h.name == "backup" and h.status != "ok"]
    assert all(cls == "client_overloaded" for cls, _ in backup_failures), backup_failures[:3]
    assert len(backup_failures) <= 10, backup_failures[:3]
    # connections open at the end: about the pool (sized to the limit), counted at both ends, plus the listener
    # (an unlimited pool holds ~100, so ~200 sockets); a few closed by faults may not have been reaped yet
    assert figures["max_sockets"] - figures["sockets_before"] <= 2 * DEFAULT_MAX_CONCURRENT_RUNS + 10, figures
    _nothing_left_behind(figures)
    assert figures["elapsed"] < 40, figures["elapsed"]


FAILING = """
name: load-failing
sim: {seed: 5}
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 2, idle: 1, total: 10}}
models:
  primary:
    provider: oai
    model: sim-broken
    tokenizer: o200k_base
    prices: [{input: 1, output: 2}]
    sim:
      ttft_ms: 0
      tokens_per_s: 100000
      answer_tokens: 20
      faults:
        - {kind: http_500, rate: 0.5}
        - {kind: http_429, rate: 0.5, retry_after_s: 0.05}
        - {kind: drop, rate: 1.0, after_tokens: 3}
routes:
  main:
    budget: {latency_ms: 1500}
    retry: {max_attempts: 3, backoff_base_s: 0.02}
    breaker: {failures: 20, window_s: 5, open_s: 0.2}
    steps: [{name: answer, targets: [primary]}]
"""


async def test_1000_runs_all_failing_without_fallback_each_end_with_a_clear_error_within_budget() -> None:
    health.reset()
    finals, hops, figures = await _load(FAILING, 1000, 100)
    assert len(finals) == 1000
    assert {f.status for f in finals} == {"error"}
    # a clear error: what failed and why, never an empty or internal one
    for f in finals:
        assert f.error and ("primary" in f.error or "sim-broken" in f.error or "admission" in f.error), f.error
        assert f.latency_ms <= 1500 + 100 + 150, (f.latency_ms, f.error)  # budget + stated tolerance + slack
    assert all(h.status != "ok" for h in hops)
    assert sum(h.cost_usd for h in hops) == sum(f.cost_usd for f in finals)
    assert any(h.error_class == "breaker" for h in hops)  # the breaker opened and spared the broken target
    _nothing_left_behind(figures)
