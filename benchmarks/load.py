"""Load: the issue-12 item-9 scenario. Many runs at once against the embedded simulator in the *same* process
(so the simulator shares the client's GIL, as in `make test` and the TUI), a primary with 20% mixed faults
(500, 429 with Retry-After, a stream dropped mid-way), a healthy fallback, retries and breakers on.

For each concurrency (20, 50, 100 by default) it runs N runs and prints runs/s, p50/p95 run latency, failed runs,
attempts the healthy fallback lost to "no first token" (the client blaming a provider for its own saturation),
`overload` decisions, admission waits, and CPU per run: the process's (client + simulator), then split into the
client's event-loop thread and the rest (the simulator's thread); then
the ratios against concurrency 20 in the same invocation (the machine is shared: only ratios mean anything).

    python benchmarks/load.py [--n 1000] [--concurrency 20,50,100] [--admission 0,16,32] [--profile]

`--admission` compares values of the profile's `engine.max_concurrent_runs` (0: no limit, every run starts at
once; default: the engine's default);
`--profile` runs cProfile at the highest concurrency and prints where the process's CPU went.

Findings (2-core machine shared with other jobs; figures vary run to run, the ratios and counts hold):
- Without a limit, c=100 vs c=20: 0.44-0.98x the runs/s, up to 2.1x the CPU per run, and in 5 of 7 runs failed
  runs (24-801 of 1,000): the healthy fallback missed its 2 s first-token deadline 7-54 times, those misses opened
  its breaker, and the runs after found both targets skipped.
- cProfile of the loop thread at c=100: httpcore's `_assign_requests_to_connections` ~40-75% of it (it walks every
  pooled connection, quadratically — `len([c.is_idle() for c in connections])` per idle connection — and polls
  each idle socket, on every request start and end, with a 100-connection pool); socket sends and tiktoken's
  encode inflated by waiting for the GIL the simulator's thread holds; tokenizing itself 1-4%; events little.
  The client's loop thread is ~75% of the process's CPU per run, the simulator's thread ~25%.
- With `engine.max_concurrent_runs` 8-64 no run failed at c=100; 8-16 gave the most runs/s (1.6-1.8x the unlimited
  c=20 figure), 32 about 0.8-1.3x, 48-64 0.6-0.8x; at 64 the full-scale test still saw 10-15 runs failing on
  first-token misses (classified as the client's overload), at 32 none. The default is 32: no failures here, and
  room for latency-bound remote providers, which use little CPU per run in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.engine import Engine, health  # noqa: E402
from workbench.profiles.load import loads_profile  # noqa: E402

PROFILE = """
name: load-bench
sim: {{seed: 5}}
{engine}
providers:
  oai: {{kind: sim, wire: openai, timeouts: {{first_token: 2, idle: 1, total: 10}}}}
models:
  primary:
    provider: oai
    model: sim-primary
    tokenizer: o200k_base
    prices: [{{input: 1, output: 2}}]
    sim:
      ttft_ms: 0
      tokens_per_s: 100000
      answer_tokens: 20
      faults:
        - {{kind: http_500, rate: 0.1}}
        - {{kind: http_429, rate: 0.0556, retry_after_s: 0.05}}
        - {{kind: drop, rate: 0.0589, after_tokens: 3}}
  backup:
    provider: oai
    model: sim-backup
    tokenizer: o200k_base
    prices: [{{input: 3, output: 4}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}
routes:
  main:
    retry: {{max_attempts: 2, backoff_base_s: 0.02}}
    breaker: {{failures: 20, window_s: 5, open_s: 0.2}}
    steps: [{{name: answer, targets: [primary, backup]}}]
"""


def profile_text(admission: int | None) -> str:
    if admission is None:
        return PROFILE.format(engine="")  # the engine's default limit
    engine = f"engine: {{max_concurrent_runs: {admission or 10_000}}}"  # 0: no limit (every run starts at once)
    return PROFILE.format(engine=engine)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def one_level(n: int, concurrency: int, admission: int | None) -> dict[str, float]:
    """N runs, `concurrency` at a time, through a fresh engine and simulator (breakers reset)."""
    health.reset()
    latencies: list[float] = []
    failed = lost_first_token = overloads = admitted_waits = 0
    errors: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    async with Engine(loads_profile(profile_text(admission))) as engine:
        await engine.ready()
        for _ in range(10):  # warm: connections, tokenizers, imports
            async for _event in engine.run("warm up", route="main"):
                pass

        async def one(i: int) -> None:
            nonlocal failed, lost_first_token, overloads, admitted_waits
            async with gate:
                t0 = time.perf_counter()
                final = None
                async for event in engine.run(f"question {i}", route="main"):
                    if event.type == "hop_finished":
                        if event.kind == "attempt" and event.name == "backup" and event.status != "ok":
                            lost_first_token += "no first token" in (event.error or "")
                        elif event.kind == "queue" and event.name == "admission":
                            admitted_waits += 1
                    elif event.type == "decision" and event.action == "overload":
                        overloads += 1
                    final = event
                latencies.append(time.perf_counter() - t0)
                if final is None or final.status != "ok":
                    failed += 1
                    why = "no final event" if final is None else str(final.error)[:90]
                    errors[why] = errors.get(why, 0) + 1

        cpu0, loop0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        loop_cpu = time.thread_time() - loop0  # this thread: the client's event loop (the simulator has its own)
    for why, count in sorted(errors.items(), key=lambda kv: -kv[1])[:3]:
        print(f"        c={concurrency}: {count} runs failed: {why}")
    return {
        "runs/s": n / wall,
        "p50 ms": percentile(latencies, 0.5) * 1e3,
        "p95 ms": percentile(latencies, 0.95) * 1e3,
        "failed": failed,
        "backup ft": lost_first_token,
        "overload": overloads,
        "queued": admitted_waits,
        "cpu ms/run": cpu / n * 1e3,
        "client ms": loop_cpu / n * 1e3,
        "sim ms": (cpu - loop_cpu) / n * 1e3,
    }


COLUMNS = (
    "runs/s",
    "p50 ms",
    "p95 ms",
    "failed",
    "backup ft",
    "overload",
    "queued",
    "cpu ms/run",
    "client ms",
    "sim ms",
)


def _limit_name(admission: int | None) -> str:
    return "default" if admission is None else (str(admission) if admission else "off")


async def main_async(args: argparse.Namespace) -> None:
    levels = [int(c) for c in args.concurrency.split(",")]
    limits: list[int | None] = [None] if args.admission is None else [int(a) for a in args.admission.split(",")]
    print(
        f"load: {args.n} runs per level, primary 20% faults + healthy fallback, retries + breakers, simulator in"
        f" process; admission limits {', '.join(_limit_name(a) for a in limits)}; python {sys.version.split()[0]}"
    )
    print(f"  {'limit':>7} {'c':>4} " + " ".join(f"{c:>10}" for c in COLUMNS))
    rows: dict[tuple[int | None, int], dict[str, float]] = {}
    prof = cProfile.Profile() if args.profile else None
    for admission in limits:
        for c in levels:
            profiled = prof is not None and c == max(levels) and admission == limits[-1]
            if profiled:
                prof.enable()
            row = rows[admission, c] = await one_level(args.n, c, admission)
            if profiled:
                prof.disable()
            print(f"  {_limit_name(admission):>7} {c:>4} " + " ".join(f"{row[k]:>10.1f}" for k in COLUMNS), flush=True)
    base_key = (limits[0], levels[0])
    base = rows[base_key]
    for key, r in rows.items():
        if key == base_key:
            continue
        print(
            f"  limit {_limit_name(key[0])} c={key[1]} vs limit {_limit_name(base_key[0])} c={base_key[1]}:"
            f" runs/s {r['runs/s'] / base['runs/s']:.2f}x  p50 {r['p50 ms'] / base['p50 ms']:.2f}x"
            f"  p95 {r['p95 ms'] / base['p95 ms']:.2f}x  cpu/run {r['cpu ms/run'] / base['cpu ms/run']:.2f}x"
        )
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(args.top)
        print(f"\ncProfile at c={max(levels)}, limit {_limit_name(limits[-1])} (this thread only; not the simulator's)")
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", default="20,50,100")
    parser.add_argument(
        "--admission", default=None, help="engine.max_concurrent_runs values to compare, e.g. 0,16,32 (0: no limit)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the highest concurrency")
    parser.add_argument("--top", type=int, default=35)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
