"""Session browser benchmark: 100,000 saved runs, browsed and searched through the TUI (Textual Pilot).

    .venv/bin/python benchmarks/tui_sessions.py              # 100,000 runs (baseline database: 1,000)
    .venv/bin/python benchmarks/tui_sessions.py --runs 20000 --keys 100

1. Build: N synthetic runs (workbench/store/synthetic.py: 2 hops each, FTS index) in a temporary directory, and a
   baseline database of 1,000 runs.
2. Through Pilot, on each database (120×40): ctrl+o until the first rows are in the list and drawn (the switch
   back to the playground and again, 5 times: median); `pagedown` until the rows under the cursor are there and
   drawn, p50/p95 over K presses, then `end` (the last page) and `pageup`s; search (Enter, so without the 150 ms
   typing debounce) until the new listing is shown, p50/p95 for prefix and whole-word queries. Ratios 100k / 1k
   show whether the work per key grows with the number of runs.
3. Store: a keyset page (100 rows) at depth 0 and at depth 90% through `list_runs`, against a bare sqlite3
   `SELECT` of the same page in the same run, and the OFFSET query the keyset replaces.
Not a test: figures depend on the machine (run it when the machine is quiet; ratios are what to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.profiles.load import load_profile  # noqa: E402
from workbench.store import RunFilter, open_store  # noqa: E402
from workbench.store.synthetic import fill  # noqa: E402
from workbench.tui.app import make_app  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "profiles" / "demo.yaml"
PREFIX = ["re", "ref", "refu", "pol", "data", "n123", "esc", "tra"]
WORDS = ["refund", "policy", "timeout", "refund policy", "incident", "german", "n4242", "outage rollback"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> str:
    return f"p50 {pct(values, 50):7.2f} ms  p95 {pct(values, 95):7.2f} ms  (n={len(values)})"


def build(path: Path, n: int) -> float:
    t = time.perf_counter()
    with open_store(path) as store:
        fill(store, n)
    return time.perf_counter() - t


async def until(pilot: Any, done: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the browser did not answer")
        await pilot.pause(0.001)


async def measure_tui(db: Path, keys: int, settings: Path) -> dict[str, list[float]]:
    names = ("open", "noop", "noop_cpu", "pagedown", "pagedown_cpu", "end", "prefix", "word")
    out: dict[str, list[float]] = {name: [] for name in names}
    app = make_app(load_profile(DEMO), db_path=db, settings_file=settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for k in range(5):
            t = time.perf_counter()
            await pilot.press("ctrl+o")
            screen = app.screen  # each visit reloads the listing once: generation k + 1
            await until(pilot, lambda: screen.pages.generation > k and screen.pages.row(0) is not None)  # noqa: B023
            await pilot.pause()  # drawn
            out["open"].append((time.perf_counter() - t) * 1000)
            await pilot.press("ctrl+g")
            await pilot.pause()
        await pilot.press("ctrl+o")
        screen = app.screen
        await until(pilot, lambda: screen.pages.row(0) is not None)
        lst = screen.run_list
        lst.focus()
        await pilot.pause()
        for _ in range(keys // 3):  # baseline: a key the list ignores, through the same Pilot steps
            t, c = time.perf_counter(), time.process_time()
            await pilot.press("x")
            await until(pilot, lambda: lst.row is not None)
            await pilot.pause()
            out["noop"].append((time.perf_counter() - t) * 1000)
            out["noop_cpu"].append((time.process_time() - c) * 1000)
        for _ in range(keys):
            t, c = time.perf_counter(), time.process_time()
            await pilot.press("pagedown")
            await until(pilot, lambda: lst.row is not None)
            await pilot.pause()
            out["pagedown"].append((time.perf_counter() - t) * 1000)
            out["pagedown_cpu"].append((time.process_time() - c) * 1000)
        out["held_rows"] = [float(screen.pages.held())]
        for key in ("end", "home", "end"):
            t = time.perf_counter()
            await pilot.press(key)
            await until(pilot, lambda: lst.row is not None)
            await pilot.pause()
            out["end"].append((time.perf_counter() - t) * 1000)
        box = screen.query_one("#search")
        for kind, queries in (("prefix", PREFIX), ("word", WORDS)):
            for _ in range(3):
                for q in queries:
                    box.focus()
                    box.value = q
                    await pilot.pause()
                    screen._debounce and screen._debounce.stop()  # (the Enter below searches at once)
                    generation = screen.pages.generation
                    t = time.perf_counter()
                    await pilot.press("enter")
                    await until(pilot, lambda: screen.pages.generation > generation)  # noqa: B023
                    await pilot.pause()
                    out[kind].append((time.perf_counter() - t) * 1000)
    return out


def store_pages(db: Path, repeat: int = 50) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"keyset_0": [], "keyset_deep": [], "bare_0": [], "bare_deep": [], "offset_deep": []}
    with open_store(db, create=False) as store:
        total = store.count_runs()
        depth = total * 9 // 10
        cursor = store.list_runs(1, filters=RunFilter(), offset=depth - 1)[0]["cursor"]
        conn = sqlite3.connect(db)
        cols = "id, route, status, latency_ms, cost_usd, started_ts, started_at, substr(prompt, 1, 200)"
        bare = f"SELECT {cols} FROM runs WHERE (started_ts, id) < (?, ?) ORDER BY started_ts DESC, id DESC LIMIT 100"
        top = f"SELECT {cols} FROM runs ORDER BY started_ts DESC, id DESC LIMIT 100"
        offset = f"SELECT {cols} FROM runs ORDER BY started_ts DESC, id DESC LIMIT 100 OFFSET ?"
        for _ in range(repeat):
            for name, fn in (
                ("keyset_0", lambda: store.list_runs(100, filters=RunFilter())),
                ("keyset_deep", lambda: store.list_runs(100, filters=RunFilter(), before=cursor)),
                ("bare_0", lambda: conn.execute(top).fetchall()),
                ("bare_deep", lambda: conn.execute(bare, cursor).fetchall()),
                ("offset_deep", lambda: conn.execute(offset, (depth,)).fetchall()),
            ):
                t = time.perf_counter()
                fn()
                out[name].append((time.perf_counter() - t) * 1000)
        conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--baseline-runs", type=int, default=1_000)
    parser.add_argument("--keys", type=int, default=150, help="page-down presses measured per database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-sessions-bench-") as tmp:
        big, small = Path(tmp) / "big.db", Path(tmp) / "small.db"
        print(f"building {args.runs:,} runs: {build(big, args.runs):.1f} s; {args.baseline_runs:,}: ", end="")
        print(f"{build(small, args.baseline_runs):.1f} s")
        results = {}
        for name, db in (("big", big), ("small", small)):
            results[name] = asyncio.run(measure_tui(db, args.keys, Path(tmp) / "settings.json"))
        b, s = results["big"], results["small"]
        print(f"\nTUI (Pilot, 120x40)          {args.runs:,} runs                         {args.baseline_runs:,} runs")
        for key, label in (
            ("open", "open browser → rows drawn"),
            ("noop", "ignored key (Pilot baseline)"),
            ("pagedown", "pagedown → rows drawn"),
            ("noop_cpu", "  CPU, ignored key"),
            ("pagedown_cpu", "  CPU, pagedown"),
            ("end", "end/home → rows drawn"),
            ("prefix", "search prefix → shown"),
            ("word", "search word → shown"),
        ):
            ratio = statistics.median(b[key]) / statistics.median(s[key])
            print(f"  {label:<28} {summary(b[key])}   {summary(s[key])}   median ratio {ratio:.2f}")
        extra = statistics.median(b["pagedown"]) / statistics.median(b["noop"])
        print(f"  pagedown / ignored key (wall, {args.runs:,} runs): {extra:.2f}")
        print(f"  rows held after {args.keys} pagedowns: {b['held_rows'][0]:,.0f} of {args.runs:,}")
        pages = store_pages(big)
        print(f"\nstore, one page of 100 rows over {args.runs:,} runs (median of 50)")
        med = {k: statistics.median(v) for k, v in pages.items()}
        print(f"  list_runs depth 0        {med['keyset_0']:.3f} ms   bare SELECT {med['bare_0']:.3f} ms"
              f"   ratio {med['keyset_0'] / med['bare_0']:.2f}")  # fmt: skip
        print(f"  list_runs depth 90%      {med['keyset_deep']:.3f} ms   bare SELECT {med['bare_deep']:.3f} ms"
              f"   ratio {med['keyset_deep'] / med['bare_deep']:.2f}")  # fmt: skip
        print(f"  depth 90% / depth 0      {med['keyset_deep'] / med['keyset_0']:.2f}")
        print(f"  OFFSET at depth 90%      {med['offset_deep']:.3f} ms  ({med['offset_deep'] / med['bare_deep']:.0f}x"
              " the keyset page)")  # fmt: skip


if __name__ == "__main__":
    main()
