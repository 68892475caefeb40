"""A small load test: 300 runs at concurrency 50, a primary with 20% mixed faults and a healthy fallback, retries
and breakers on. Every run ends ok (the fallback is healthy: a failed run is a defect), the hop costs add up to
the run costs exactly, nothing is left in flight, and it all finishes in bounded time."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from tests.engine.resilience_helpers import attempts
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile

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
    # it now and then sees no first token within 2 s (issue 12 item 9: the client's own saturation). The runs still
    # end ok (the last target's default retry); what may not happen is any other kind of failure, or many.
    assert all("no first token" in f for f in backup_failures), backup_failures[:3]
    assert len(backup_failures) <= RUNS // 50, backup_failures[:3]
