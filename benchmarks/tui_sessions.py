"""Session browser benchmark: 100,000 saved runs, browsed and searched in the TUI (Textual, headless).

    .venv/bin/python benchmarks/tui_sessions.py              # 100,000 runs (baseline database: 10,000)
    .venv/bin/python benchmarks/tui_sessions.py --runs 20000 --baseline-runs 5000 --keys 60

1. Build: N synthetic runs (workbench/store/synthetic.py: 2 hops each, FTS index) in a temporary directory, and a
   baseline database of M runs.
2. In the app (Pilot, 120×40), each figure from a key sent to the end of the first frame drawn with the result
   (FrameProbe hooks the screen's refresh; Pilot's own waits come in 20 ms steps): ctrl+o from the playground
   until the first rows are drawn (5 times); `pagedown` until every visible row is drawn (p50/p95 over K presses;
   its process CPU too); `down`; `end`/`home`; search as you type (the query's last character typed, the 150 ms
   debounce set to 1 ms) until the new listing is drawn, p50/p95 for prefix and whole-word queries. Ratios
   against the baseline database show whether the work per key grows with the number of runs.
3. Store: a keyset page (100 rows) at depth 0 and at depth 90% through `list_runs`, against a bare sqlite3
   `SELECT` of the same page in the same run, and the OFFSET query the keyset replaces; the search queries' first
   page and their count through the store API.
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

from textual import events
from textual.screen import Screen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.profiles.load import load_profile  # noqa: E402
from workbench.store import RunFilter, open_store  # noqa: E402
from workbench.store.synthetic import fill  # noqa: E402
from workbench.tui.app import make_app  # noqa: E402
from workbench.tui.screens.sessions import SessionsScreen  # noqa: E402

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


class FrameProbe:
    """Times a key from the moment it is sent to the end of the first frame drawn in which `done()` holds.

    (Pilot's `press` waits until the process has been idle for 20 ms, in steps of 20 ms, so its timings measure
    Pilot more than the app; this hooks the screen's own refresh instead.)"""

    def __init__(self) -> None:
        self.done: Callable[[], bool] | None = None
        self.t0 = 0.0
        self.result = 0.0
        self.event = asyncio.Event()
        original = Screen._compositor_refresh
        probe = self

        def refresh(screen: Screen[Any]) -> None:
            original(screen)
            if probe.done is not None and probe.done():
                probe.result = (time.perf_counter() - probe.t0) * 1000
                probe.done = None
                probe.event.set()

        Screen._compositor_refresh = refresh  # type: ignore[method-assign]

    async def key(self, app: Any, key: str, done: Callable[[], bool], timeout: float = 30.0) -> tuple[float, float]:
        """(wall ms, process CPU ms) from sending `key` to the first frame drawn with `done()` true."""
        self.event = asyncio.Event()  # (one per key: each database runs in its own event loop)
        self.done = done
        cpu = time.process_time()
        self.t0 = time.perf_counter()
        app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
        await asyncio.wait_for(self.event.wait(), timeout)
        return self.result, (time.process_time() - cpu) * 1000


def all_visible_loaded(screen: Any) -> bool:
    lst = screen.run_list
    top, height = round(lst.scroll_y), lst.scrollable_content_region.height
    return all(screen.pages.row(i) is not None for i in range(top, min(screen.pages.total, top + height)))


async def measure_tui(db: Path, keys: int, settings: Path, probe: FrameProbe) -> dict[str, list[float]]:
    names = ("open", "pagedown", "pagedown_cpu", "down", "end", "prefix", "word")
    out: dict[str, list[float]] = {name: [] for name in names}
    app = make_app(load_profile(DEMO), db_path=db, settings_file=settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for k in range(5):
            wall, _ = await probe.key(
                app,
                "ctrl+o",
                lambda: (
                    isinstance(app.screen, SessionsScreen)  # noqa: B023
                    and app.screen.pages.generation > k  # noqa: B023  (each visit reloads once)
                    and all_visible_loaded(app.screen)
                ),
            )
            out["open"].append(wall)
            await pilot.press("ctrl+g")
            await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        screen = app.screen
        lst = screen.run_list
        lst.focus()
        await pilot.pause()
        for key, n in (("pagedown", keys), ("down", keys // 3)):
            for _ in range(n):
                at = lst.cursor
                wall, cpu = await probe.key(app, key, lambda: lst.cursor != at and all_visible_loaded(screen))  # noqa: B023
                out[key].append(wall)
                if key == "pagedown":
                    out["pagedown_cpu"].append(cpu)
        out["held_rows"] = [float(screen.pages.held())]
        for key in ("end", "home", "end", "home"):
            at = lst.cursor
            wall, _ = await probe.key(app, key, lambda: lst.cursor != at and all_visible_loaded(screen))  # noqa: B023
            out["end"].append(wall)
        box = screen.query_one("#search")
        box.focus()
        screen.debounce_s = 0.001  # typing's 150 ms wait for more keys is by design: measured without it
        for kind, queries in (("prefix", PREFIX), ("word", WORDS)):
            for _ in range(3):
                for q in queries:
                    box.value = q[:-1]  # then its last character typed: search as you type
                    await pilot.pause()
                    await app.workers.wait_for_complete()
                    generation = screen.pages.generation
                    wall, _ = await probe.key(
                        app,
                        q[-1],
                        lambda: screen.pages.generation > generation and all_visible_loaded(screen),  # noqa: B023
                    )
                    out[kind].append(wall)
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
        for kind, queries in (("store_prefix", PREFIX), ("store_word", WORDS)):
            out[kind] = []
            out[kind + "_count"] = []
            for _ in range(5):
                for q in queries:
                    f = RunFilter(text=q)
                    t = time.perf_counter()
                    store.list_runs(100, filters=f, prefix_last=kind == "store_prefix")
                    out[kind].append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    store.count_runs(f, prefix_last=kind == "store_prefix")
                    out[kind + "_count"].append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--baseline-runs", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=150, help="page-down presses measured per database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-sessions-bench-") as tmp:
        big, small = Path(tmp) / "big.db", Path(tmp) / "small.db"
        print(f"building {args.runs:,} runs: {build(big, args.runs):.1f} s; {args.baseline_runs:,}: ", end="")
        print(f"{build(small, args.baseline_runs):.1f} s")
        results = {}
        probe = FrameProbe()
        for name, db in (("big", big), ("small", small)):
            results[name] = asyncio.run(measure_tui(db, args.keys, Path(tmp) / "settings.json", probe))
        b, s = results["big"], results["small"]
        print(f"\nTUI (Pilot, 120x40)          {args.runs:,} runs                         {args.baseline_runs:,} runs")
        for key, label in (
            ("open", "open browser → rows drawn"),
            ("pagedown", "pagedown → rows drawn"),
            ("pagedown_cpu", "  CPU per pagedown"),
            ("down", "down → row drawn"),
            ("end", "end/home → rows drawn"),
            ("prefix", "search prefix → shown"),
            ("word", "search word → shown"),
        ):
            ratio = statistics.median(b[key]) / statistics.median(s[key])
            print(f"  {label:<28} {summary(b[key])}   {summary(s[key])}   median ratio {ratio:.2f}")
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
        print(f"\nstore, search over {args.runs:,} runs: first page of 100 / count of the matches")
        for kind, label in (("store_prefix", "prefix (as typed)"), ("store_word", "whole words")):
            print(f"  {label:<22} page {summary(pages[kind])}   count {summary(pages[kind + '_count'])}")


if __name__ == "__main__":
    main()
