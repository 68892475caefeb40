"""Memory: does one engine grow per run? (issue 24 item 4; a proxy keeps one engine for days).

One `Engine` over the embedded simulator runs the demo profile's routes round-robin — `default` (a 503 now and
then, then the fallback), `fallback` (the primary always down: its breaker opens, later runs skip it), `support`
(a classifier, retrieval, a relevance gate that degrades to a fallback branch when no note fits), `shop` (a
parallel fan-out and merge), `code` (retrieval and a strong/weak route), `risk` — plus routes the demo lacks:
`hedged` (a slow primary, the backup started after 5 ms), `down` (its only target fails), a run cancelled by its
token after the first token, and ones whose consumer walks away then or at an attempt's start (closes the
generator: a client that hung up). The engine admits 8 runs at once and the driver keeps 16 going, so runs
also wait for admission. The demo's models are redialed to answer at once (ttft 1 ms, 60 ms for the hedged
primary; unbounded tokens/s; 24-token answers) so 10,000 runs take minutes, not hours; their faults are kept. Every prompt is different (a run number
in it), as a proxy's traffic is, so a cache keyed by prompt text would show. Every event goes to a real SQLite
store in a temp dir through the store's background writer, as `workbench run` does.

After a warm-up (`--warmup` runs), RSS is read (/proc/self/statm, after a gc) at `--first` runs and at `--last`
runs; `growth` is their ratio and the exit code is 1 when it is above `--max-growth` (1.10). The writer is
flushed before each reading so its queue is empty and what is measured is what stays. A reading half-way
tells a cache filling to its bound (the second half grows less) from a leak (both halves grow alike).

    python benchmarks/memory.py                      # 1,000 then 10,000 runs (a few minutes on 2 cores)
    python benchmarks/memory.py --first 200 --last 1000   # a quick check
    python benchmarks/memory.py --tracemalloc 15     # also: the 15 allocation sites that grew most between
                                                     # the two readings (slower: tracemalloc traces everything)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from contextlib import aclosing
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.engine import CancelToken, Engine  # noqa: E402
from workbench.profiles.load import load_profile  # noqa: E402
from workbench.store import open_store  # noqa: E402

# (route, metadata, prompt) — prompts chosen so each route takes the path named beside it
TRAFFIC: list[tuple[str, dict[str, str] | None, str]] = [
    ("default", None, "Why is the sky blue?"),  # swift, 30% 503 -> steady
    ("fallback", None, "Explain DNS caching."),  # outage (503, then its breaker open) -> steady
    ("support", None, "How do I reset my password?"),  # classifier -> retrieve -> gate passes -> answer
    ("support", None, "Where is my parcel? It's late."),  # gate fails -> degrade to the general branch
    ("support", None, "hello there"),  # greeting branch
    ("shop", None, "a 27-inch 4K monitor"),  # parallel fan-out of three, merge, answer
    ("code", None, "refactor this class and explain why: class A: pass"),  # retrieve, strong/weak
    ("risk", {"risk": "high"}, "Payment of 900 EUR to a new payee"),  # outage -> sage fallback
    ("hedged", None, "Hedge me: what is a B-tree?"),  # slow primary, the hedge wins
    ("down", None, "Nobody is up."),  # every target fails: the run ends in error
    ("default", None, "cancel"),  # cancelled by its token after the first token (run_finished: cancelled)
    ("steady", None, "abandon"),  # the consumer walks away after the first token (the generator is closed)
    ("fallback", None, "leave"),  # ... or at an attempt's hop_started, before the call is made
]


def fast_profile(tmp: Path) -> Path:
    """The demo profile with its models answering at once (faults kept), and a hedged route added."""
    data = yaml.safe_load((ROOT / "profiles" / "demo.yaml").read_text(encoding="utf-8"))
    for model in data["models"].values():
        sim = model.setdefault("sim", {})
        sim.update({"ttft_ms": 1, "tokens_per_s": 1e8, "answer_tokens": 24})
        if "reasoning_tokens" in sim:
            sim["reasoning_tokens"] = 20
    data["models"]["sage"]["sim"]["ttft_ms"] = 60  # slow enough that the hedge starts the backup
    data["routes"]["hedged"] = {
        "steps": [{"name": "answer", "targets": ["sage", "steady"], "hedge": {"after_ms": 5}}],
    }
    # fewer slots than the driver's concurrency: half the runs wait in the admission queue first
    data["engine"] = {"max_concurrent_runs": 8}
    data["routes"]["down"] = {"steps": [{"name": "answer", "targets": ["outage"]}]}
    data["routes"]["steady"] = {"steps": [{"name": "answer", "targets": ["steady"]}]}
    for route in data["routes"].values():  # corpus paths are relative to the profile file: make them absolute
        _absolute_corpus(route.get("steps", []))
    path = tmp / "memory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _absolute_corpus(steps: list[dict[str, Any]]) -> None:
    for step in steps:
        if "corpus" in step:
            step["corpus"] = str((ROOT / "profiles" / step["corpus"]).resolve())
        for sub in step.get("steps", []):
            _absolute_corpus([sub])
        for branch in (step.get("branches") or {}).values():
            _absolute_corpus(branch)


PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def tables(engine: Engine, writer: Any) -> str:
    """The sizes of what lives as long as the engine (each should stay flat however many runs pass)."""
    from workbench.engine import health, lag, step_policies
    from workbench.engine.attempt import _price_json

    monitor = lag.monitor(asyncio.get_running_loop())
    sizes = {
        "writer open runs": getattr(writer, "open_runs", "?"),
        "writer notices": len(writer.notices),
        "health targets": len(health._targets),
        "breaker failure times": sum(len(h.failures) for h in health._targets.values()),
        "calls in flight": sum(h.in_flight for h in health._targets.values()),
        "probes in flight": sum(h.probing for h in health._targets.values()),
        "lag samples": 0 if monitor is None else len(monitor.ran),
        "admission waiters": len(engine.admission._waiters),
        "step policies": len(step_policies._STEP_POLICIES),
        "price cache": len(_price_json),
        "asyncio tasks": len(asyncio.all_tasks()),
    }
    return ", ".join(f"{k} {v}" for k, v in sizes.items())


def _sqlite_memory() -> Any:
    """SQLite's own heap (page caches of every connection in the process), via the library _sqlite3 links."""
    import _sqlite3
    import ctypes

    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return used


SQLITE_MEMORY = _sqlite_memory()


def reading(runs: int, rss: int) -> str:
    """One line per reading: RSS, and two parts of it that explain most changes (Python's heap, SQLite's)."""
    line = f"after {runs:>6,} runs: RSS {rss / 2**20:8.1f} MiB   python blocks {sys.getallocatedblocks():>9,}"
    if SQLITE_MEMORY is not None:
        line += f"   sqlite heap {SQLITE_MEMORY() / 2**20:6.2f} MiB"
    return line


class Driver:
    def __init__(self, engine: Engine, writer: Any, concurrency: int) -> None:
        self.engine = engine
        self.writer = writer
        self.concurrency = concurrency
        self.done = 0
        self.statuses: dict[str, int] = {}
        self.decisions: dict[str, int] = {}  # by action: proof the paths were taken (fallback, skip, hedge...)

    async def one(self, i: int) -> None:
        route, meta, prompt = TRAFFIC[i % len(TRAFFIC)]
        cancel = CancelToken()
        status = "abandoned"
        async with aclosing(
            self.engine.run(f"{prompt} (request {i})", route=route, metadata=meta, cancel=cancel)
        ) as run:
            async for event in run:
                self.writer.submit(event)
                if event.type == "run_finished":
                    status = event.status
                elif event.type == "decision":
                    self.decisions[event.action] = self.decisions.get(event.action, 0) + 1
                elif prompt == "leave" and event.type == "hop_started" and event.kind == "attempt":
                    break
                elif event.type == "token" and prompt in ("cancel", "abandon"):
                    if prompt == "abandon":
                        break
                    cancel.cancel()
        self.statuses[f"{route}:{status}"] = self.statuses.get(f"{route}:{status}", 0) + 1

    async def until(self, total: int) -> None:
        """Run until `total` runs are done, `concurrency` at a time."""
        start = self.done
        next_i = start

        async def worker() -> None:
            nonlocal next_i
            while next_i < total:
                i = next_i
                next_i += 1
                await self.one(i)
                self.done += 1

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    def settle(self) -> int:
        if not self.writer.flush(timeout=60):
            raise SystemExit("the store writer did not flush within 60 s")
        gc.collect()
        return rss_bytes()


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="wb-memory-") as tmp_name:
        tmp = Path(tmp_name)
        loaded = load_profile(fast_profile(tmp))
        with open_store(tmp / "workbench.db") as store:
            cap = {} if args.writer_open_runs is None else {"max_open_runs": args.writer_open_runs}
            writer = store.writer(session=None, profile=loaded, **cap)
        try:
            async with Engine(loaded) as engine:
                await engine.ready()
                driver = Driver(engine, writer, args.concurrency)
                t0 = time.perf_counter()
                await driver.until(args.warmup)
                driver.settle()
                if args.tracemalloc:
                    tracemalloc.start(args.frames)
                await driver.until(args.first)
                rss_first = driver.settle()
                snap_first = tracemalloc.take_snapshot() if args.tracemalloc else None
                print(reading(args.first, rss_first), flush=True)
                mid = (args.first + args.last) // 2
                await driver.until(mid)
                rss_mid = driver.settle()
                print(reading(mid, rss_mid), flush=True)
                await driver.until(args.last)
                rss_last = driver.settle()
                snap_last = tracemalloc.take_snapshot() if args.tracemalloc else None
                elapsed = time.perf_counter() - t0
                print(reading(args.last, rss_last))
                print("  what the engine keeps between runs: " + tables(engine, writer))
        finally:
            writer.close()
        saved = writer.saved
    growth = rss_last / rss_first
    per_run = (rss_last - rss_first) / max(1, args.last - args.first)
    print(f"growth {growth:.3f}  ({per_run:+.0f} bytes per run; limit {args.max_growth:.2f})")
    print(f"  of which in the second half: {rss_last / rss_mid:.3f} (a bounded cache flattens, a leak does not)")
    print(
        f"{driver.done:,} runs in {elapsed:.0f} s at concurrency {args.concurrency}; {saved:,} saved; "
        + ", ".join(f"{k} {v}" for k, v in sorted(driver.statuses.items()))
    )
    print("decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(driver.decisions.items())))
    if snap_first is not None and snap_last is not None:
        print(f"\ntracemalloc: the {args.tracemalloc} sites that grew most between the two readings")
        skip = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib*")]
        stats = snap_last.filter_traces(skip).compare_to(snap_first.filter_traces(skip), "traceback")
        for stat in stats[: args.tracemalloc]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            for line in stat.traceback.format()[-2 * args.frames :]:
                print("     ", line)
    abandoned = sum(n for k, n in driver.statuses.items() if k.endswith(":abandoned"))
    if driver.done != args.last or saved != args.last - abandoned:
        print(f"expected {args.last:,} runs done and {args.last - abandoned:,} saved", file=sys.stderr)
        return 2
    return 1 if growth > args.max_growth else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=300, help="runs before anything is measured")
    parser.add_argument("--first", type=int, default=1000, help="the first reading, after this many runs")
    parser.add_argument("--last", type=int, default=10000, help="the second reading, after this many runs")
    parser.add_argument("--concurrency", type=int, default=16, help="runs in flight at once")
    parser.add_argument(
        "--writer-open-runs",
        type=int,
        default=None,
        metavar="N",
        help="unfinished runs the store writer keeps (default: its MAX_OPEN_RUNS, 4096; abandoned runs fill it)",
    )
    parser.add_argument("--max-growth", type=float, default=1.10, help="exit 1 above this ratio")
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="N", help="print the N allocation sites that grew most"
    )
    parser.add_argument("--frames", type=int, default=4, help="traceback depth for --tracemalloc")
    args = parser.parse_args()
    if not 0 <= args.warmup < args.first < args.last:
        parser.error("need 0 <= --warmup < --first < --last")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
