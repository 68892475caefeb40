"""Eval throughput: N cases × 2 routes at concurrency 50 through `run_eval`, against the same requests made by the
bare engine (a semaphore and `engine.run`, events consumed, nothing else) in the same process and run.

The simulator is dialed to answer instantly (ttft 0, unbounded tokens/s) so what is measured is client-side work:
the eval machinery's own overhead (outcome bookkeeping, checks, progress callback) shows as the ratio of the two
cases/s figures. Rounds alternate which goes first to cancel drift; nothing is saved (no writer) in either.
Usage: python benchmarks/eval_throughput.py [--cases 1000] [--concurrency 50] [--rounds 3]
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

from workbench.eval.checks import Check  # noqa: E402
from workbench.eval.dataset import Case  # noqa: E402
from workbench.eval.runner import run_eval  # noqa: E402
from workbench.profiles.load import loads_profile  # noqa: E402

PROFILE = """\
name: bench
sim: {seed: 1}
providers:
  oai: {kind: sim, wire: openai}
  ant: {kind: sim, wire: anthropic}
models:
  a: {provider: oai, model: sim-a, prices: [{input: 0.15, output: 0.6}], sim: {ttft_ms: 0, tokens_per_s: 10000000, answer_tokens: 40}}
  b: {provider: ant, model: sim-b, prices: [{input: 3, output: 15}], sim: {ttft_ms: 0, tokens_per_s: 10000000, answer_tokens: 40}}
routes:
  one: {steps: [{name: s, targets: [a]}]}
  two: {steps: [{name: s, targets: [b]}]}
"""

WORDS = "refund invoice password shipping warranty discount subscription webhook address seats".split()


def cases(n: int) -> list[Case]:
    return [
        Case(
            id=f"c{i}",
            input=f"Question {i} about {WORDS[i % len(WORDS)]} and {WORDS[(i * 7) % len(WORDS)]}",
            checks=[Check("contains", WORDS[i % len(WORDS)]), Check("max_tokens", 60)],
        )
        for i in range(n)
    ]


async def bare(loaded, items: list[Case], routes: list[str], concurrency: int) -> float:  # type: ignore[no-untyped-def]
    from workbench.engine import Engine

    sem = asyncio.Semaphore(concurrency)
    async with Engine(loaded) as engine:

        async def one(route: str, case: Case) -> None:
            async with sem:
                async for _ in engine.run(case.input, route=route):
                    pass

        t0 = time.perf_counter()
        await asyncio.gather(*(one(r, c) for c in items for r in routes))
        return time.perf_counter() - t0


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    loaded = loads_profile(PROFILE)
    items = cases(args.cases)
    routes = ["one", "two"]
    await bare(loaded, items[:50], routes, args.concurrency)  # warm up: pools, tokenizer, simulator
    bare_s: list[float] = []
    eval_s: list[float] = []
    for i in range(args.rounds):
        for which in ("bare", "eval") if i % 2 == 0 else ("eval", "bare"):  # alternate which goes first
            if which == "bare":
                bare_s.append(await bare(loaded, items, routes, args.concurrency))
                continue
            t0 = time.perf_counter()
            result = await run_eval(loaded, items, routes, concurrency=args.concurrency)
            eval_s.append(time.perf_counter() - t0)
            assert all(o.status == "ok" for o in result.outcomes)
    runs = len(items) * len(routes)
    b, e = statistics.median(bare_s), statistics.median(eval_s)
    print(
        f"{args.cases} cases × {len(routes)} routes = {runs} runs at concurrency {args.concurrency}, {args.rounds} rounds (median)"
    )
    print(f"bare engine: {b:.2f} s  {runs / b:.0f} runs/s  {args.cases / b:.0f} cases/s")
    print(f"eval:        {e:.2f} s  {runs / e:.0f} runs/s  {args.cases / e:.0f} cases/s")
    print(f"eval / bare throughput: {b / e:.3f}  (eval machinery overhead {100 * (e / b - 1):+.1f}%)")


if __name__ == "__main__":
    asyncio.run(main())
