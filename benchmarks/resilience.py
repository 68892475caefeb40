"""Resilience benchmarks against the embedded simulator (loopback HTTP, seeded).

1. A flaky target (fails 1 request in 3 with a 429 and `retry-after-ms: 50`): success rate and p50/p95 latency of
   runs with retries (max_attempts 3, Retry-After honoured) versus without (max_attempts 1).
2. Fallback on an immediate 503 versus a direct call to the healthy target: p50 per run, the difference, and the
   503's own round trip (a run whose only target answers 503, no retry) for reference.

Usage: python benchmarks/resilience.py [--n 300] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.engine import Engine, health  # noqa: E402
from workbench.profiles.load import loads_profile  # noqa: E402

PROFILE = """
name: resilience-bench
sim: {seed: 1}
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 5, idle: 5, total: 30}}
models:
  flaky:
    provider: oai
    model: sim-flaky
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 1000000, answer_tokens: 40,
          faults: [{kind: http_429, rate: 0.3333, retry_after_s: 0.05}]}
  down:
    provider: oai
    model: sim-down
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, faults: [{kind: http_503}]}
  good:
    provider: oai
    model: sim-good
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 1000000, answer_tokens: 40}
routes:
  flaky_retries: {retry: {max_attempts: 3}, breaker: {enabled: false}, steps: [{name: a, targets: [flaky]}]}
  flaky_once: {retry: {max_attempts: 1}, breaker: {enabled: false}, steps: [{name: a, targets: [flaky]}]}
  fallback: {breaker: {enabled: false}, steps: [{name: a, targets: [down, good]}]}
  direct: {steps: [{name: a, targets: [good]}]}
  only_503: {retry: {max_attempts: 1}, breaker: {enabled: false}, steps: [{name: a, targets: [down]}]}
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def runs(engine: Engine, route: str, n: int, concurrency: int) -> tuple[float, list[float]]:
    """Success rate and per-run latencies (ms) of n runs at the given concurrency."""
    gate = asyncio.Semaphore(concurrency)
    ok = 0
    lat: list[float] = []

    async def one(i: int) -> None:
        nonlocal ok
        async with gate:
            t0 = time.perf_counter()
            last = None
            async for event in engine.run(f"q {i}", route=route):
                last = event
            lat.append((time.perf_counter() - t0) * 1000.0)
            ok += last is not None and last.status == "ok"

    await asyncio.gather(*(one(i) for i in range(n)))
    return ok / n, lat


async def main(n: int, concurrency: int) -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        await runs(engine, "direct", 20, 1)  # warm the pool
        print(f"resilience benchmark: n={n}, python {sys.version.split()[0]}\n")
        print(f"1. flaky target (1 in 3 fails, Retry-After 50 ms), concurrency {concurrency}")
        results = {}
        for route in ("flaky_once", "flaky_retries"):
            health.reset()
            rate, lat = await runs(engine, route, n, concurrency)
            results[route] = (rate, lat)
            print(
                f"  {route:14s} success {rate * 100:5.1f}%   p50 {statistics.median(lat):7.2f} ms"
                f"   p95 {pct(lat, 0.95):7.2f} ms"
            )
        (r1, l1), (r2, l2) = results["flaky_once"], results["flaky_retries"]
        print(
            f"  retries: success x{r2 / r1:.3f}, p50 x{statistics.median(l2) / statistics.median(l1):.3f},"
            f" p95 x{pct(l2, 0.95) / pct(l1, 0.95):.3f}\n"
        )

        print("2. fallback on an immediate 503 vs a direct call to the healthy target (sequential)")
        p50 = {}
        for _ in range(3):  # alternate rounds to cancel drift; keep the best round's p50
            for route in ("direct", "fallback", "only_503"):
                health.reset()
                _, lat = await runs(engine, route, n, 1)
                p50[route] = min(p50.get(route, float("inf")), statistics.median(lat))
        d, f, e = p50["direct"], p50["fallback"], p50["only_503"]
        print(f"  direct {d:.3f} ms   fallback {f:.3f} ms   503 alone {e:.3f} ms")
        print(f"  fallback adds {f - d:+.3f} ms ({f / d:.2f}x); over the 503's own round trip: {f - d - e:+.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))
