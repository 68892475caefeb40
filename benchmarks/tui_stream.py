"""TUI streaming benchmark: six compare columns streaming at once, and how the app answers a key meanwhile.

One process, the embedded simulator, the demo profile with every simulated model dialed to `--tps` tokens/s and
`--answer` tokens (no faults), and six compare columns. While they stream, every 50 ms a callback is posted into
the app's message queue, where a key press would wait, and timed until it runs (key → handled; a frame follows
within one frame interval). Pilot's own `press` is not used: it waits until the app is idle, which while six
columns stream means until they finish. Reported: total tokens/s streamed, key latency p50/p95, and CPU per
1,000 tokens — of the whole app, of the same six runs through the bare engine with no UI (measured in the same
run), and the difference: the TUI's own cost.

With `--screen playground` the same figures for one run in the playground: its answer streams as Markdown beside
the live waterfall. `--profile FILE` writes a cProfile of the streaming window (read it with pstats).

`--against DIR` measures a checkout of another commit (e.g. `git worktree add /tmp/base main`) and this one in
turns, `--repeat` times each, each in a fresh process, and prints the medians side by side with their ratios: on
a machine shared with other work only figures taken in the same run compare.

Usage: python benchmarks/tui_stream.py [--tps 400] [--answer 600] [--columns 6] [--screen compare|playground]
       [--against DIR [--repeat 3]]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.profiles.load import LoadedProfile, load_profile  # noqa: E402

PROMPT = "Explain how a circuit breaker protects a service that calls an unreliable model provider."


def dialed(tps: float, answer: int) -> LoadedProfile:
    loaded = load_profile(ROOT / "profiles" / "demo.yaml")
    models = {
        alias: m.model_copy(
            update={
                "sim": m.sim.model_copy(
                    update={"ttft_ms": 5.0, "tokens_per_s": tps, "answer_tokens": answer, "faults": []}
                )
            }
        )
        if m.sim
        else m
        for alias, m in loaded.profile.models.items()
    }
    return replace(loaded, profile=loaded.profile.model_copy(update={"models": models}))


def generate_routes(loaded: LoadedProfile) -> list[str]:
    routes = [name for name, r in loaded.profile.routes.items() if all(s.kind == "generate" for s in r.steps)]
    return routes or list(loaded.profile.routes)


async def bare_engine(loaded: LoadedProfile, routes: list[str]) -> tuple[float, int]:
    """CPU seconds and tokens for the same runs through the engine alone."""
    from workbench.engine.run import Engine

    async with Engine(loaded) as engine:
        await engine.ready()

        async def one(route: str) -> int:
            out = 0
            async with aclosing(engine.run(PROMPT, route=route)) as events:
                async for event in events:
                    if event.type == "run_finished":
                        out = event.output_tokens
            return out

        cpu0 = time.process_time()
        tokens = await asyncio.gather(*(one(r) for r in routes))
        return time.process_time() - cpu0, sum(tokens)


async def with_tui(
    loaded: LoadedProfile, columns: int, profile: str | None = None, screen_name: str = "compare"
) -> dict[str, float]:
    from workbench.tui.app import make_app
    from workbench.tui.widgets import PromptArea

    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(loaded, settings_file=Path(tmp) / "s.json")
        async with app.run_test(size=(200, 50)) as pilot:
            assert await app.wait_for_engine()
            plain = generate_routes(loaded)  # model-call routes only: the figure should not move with the demo's routes
            if screen_name == "playground":
                screen = app.screen
                screen.select_route(plain[0])
                await pilot.pause()
                routes = [plain[0]]
                group = "run"
            else:
                await pilot.press("ctrl+k")
                await pilot.pause()
                screen = app.screen
                while len(screen.columns) < columns:
                    screen.action_add()
                    await pilot.pause()
                for i, col in enumerate(screen.columns):
                    col.route = plain[i % len(plain)]
                    col.show_header()
                routes = [c.route for c in screen.columns]
                group = "compare"
            screen.query_one(PromptArea).insert(PROMPT)
            prof = cProfile.Profile() if profile else None
            if prof is not None:
                prof.enable()
            cpu0, t0 = time.process_time(), time.perf_counter()
            app.call_next(screen.action_send)  # not pilot.press: Pilot waits for an idle app, i.e. the whole run
            await asyncio.sleep(0.1)
            latencies: list[float] = []

            def busy() -> bool:
                return any(w.group == group and not w.is_finished for w in screen.workers)

            while busy():
                # A key event waits in the app's message queue behind whatever the app is doing (frames, token
                # messages, layout). A callback posted into the same queue measures exactly that wait.
                handled = asyncio.get_running_loop().create_future()
                k0 = time.perf_counter()
                app.call_next(lambda f=handled: f.done() or f.set_result(time.perf_counter()))
                latencies.append((await handled - k0) * 1000.0)
                await asyncio.sleep(0.05)
            await app.workers.wait_for_complete()
            await pilot.pause()  # the run's last frame
            wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            if prof is not None:
                prof.disable()
                prof.dump_stats(profile)
            if screen_name == "playground":
                tokens = screen.state.finished.output_tokens if screen.state and screen.state.finished else 0
            else:
                tokens = sum(int(r["output_tokens"]) for c in screen.columns for r in c.results)
    return {"cpu": cpu, "wall": wall, "tokens": tokens, "latencies": latencies, "routes": routes}  # type: ignore[dict-item]


_FIGURES = re.compile(
    r"p50 (?P<p50>[\d.]+) ms\s+p95 (?P<p95>[\d.]+) ms.*?app (?P<app>[\d.]+) ms · bare engine (?P<bare>[\d.]+) ms"
    r" · TUI's own (?P<own>-?[\d.]+) ms",
    re.S,
)


def against(base: Path, args: argparse.Namespace) -> None:
    """Run this benchmark for `base` (another checkout) and for this checkout in turns; print medians and ratios."""
    passed = ["--tps", str(args.tps), "--answer", str(args.answer), "--columns", str(args.columns)]
    passed += ["--screen", args.screen]
    runs: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
    for _ in range(args.repeat):
        for name, root in (("base", base), ("this", ROOT)):
            script = root / "benchmarks" / "tui_stream.py"
            out = subprocess.run([sys.executable, str(script), *passed], capture_output=True, text=True, check=True)
            found = _FIGURES.search(out.stdout)
            if found is None:
                raise SystemExit(f"tui_stream: no figures in the output of {script}:\n{out.stdout}{out.stderr}")
            runs[name].append({k: float(v) for k, v in found.groupdict().items()})
            print(f"  {name:4} {runs[name][-1]}", flush=True)
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
    print(f"tui stream A/B: {args.screen}, {args.tps:.0f} tok/s, {args.answer} tokens, medians of {args.repeat}")
    print(f"  {'':22}{'base':>10}{'this':>10}{'base/this':>11}")
    for key, label in (("app", "app ms/1k tok"), ("bare", "bare engine ms/1k tok"), ("own", "TUI's own ms/1k tok")):
        b, t = med["base"][key], med["this"][key]
        print(f"  {label:22}{b:10.1f}{t:10.1f}{b / t if t else float('inf'):10.2f}x")
    for key in ("p50", "p95"):
        print(f"  {'key → handled ' + key + ' ms':22}{med['base'][key]:10.1f}{med['this'][key]:10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tps", type=float, default=400.0, help="tokens/s per column")
    parser.add_argument("--answer", type=int, default=600, help="answer tokens per column")
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument(
        "--screen", choices=["compare", "playground"], default="compare", help="playground: one run, Markdown answer"
    )
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the streaming window to FILE")
    parser.add_argument("--against", metavar="DIR", type=Path, help="a checkout to measure in turns with this one")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each checkout with --against")
    args = parser.parse_args()
    if args.against is not None:
        if not (args.against / "benchmarks" / "tui_stream.py").is_file():
            parser.error(f"--against {args.against}: no benchmarks/tui_stream.py there (is it a workbench checkout?)")
        against(args.against, args)
        return
    loaded = dialed(args.tps, args.answer)
    tui = asyncio.run(with_tui(loaded, args.columns, args.profile, args.screen))
    base_cpu, base_tokens = asyncio.run(bare_engine(loaded, tui["routes"]))  # type: ignore[arg-type]
    lat = sorted(tui["latencies"])  # type: ignore[arg-type]
    per_k = lambda cpu, tok: 1000.0 * 1000.0 * cpu / max(tok, 1)  # noqa: E731  (ms of CPU per 1,000 tokens)
    app_k, base_k = per_k(tui["cpu"], tui["tokens"]), per_k(base_cpu, base_tokens)
    what = f"{args.columns} compare columns" if args.screen == "compare" else "the playground (one run)"
    print(f"tui stream benchmark: {what}, {args.tps:.0f} tok/s each, {args.answer} tokens")
    print(
        f"  streamed        {tui['tokens']:.0f} tokens in {tui['wall']:.2f} s = {tui['tokens'] / tui['wall']:,.0f} tokens/s"
    )
    if lat:
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        print(f"  key → handled   p50 {statistics.median(lat):.1f} ms  p95 {p95:.1f} ms  ({len(lat)} presses)")
    print(f"  CPU / 1k tokens app {app_k:.1f} ms · bare engine {base_k:.1f} ms · TUI's own {app_k - base_k:.1f} ms")
    print(f"  ratio app/bare engine CPU per token: {app_k / max(base_k, 1e-9):.2f}x")


if __name__ == "__main__":
    main()
