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

Usage: python benchmarks/tui_stream.py [--tps 400] [--answer 600] [--columns 6] [--screen compare|playground]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tps", type=float, default=400.0, help="tokens/s per column")
    parser.add_argument("--answer", type=int, default=600, help="answer tokens per column")
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument(
        "--screen", choices=["compare", "playground"], default="compare", help="playground: one run, Markdown answer"
    )
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the streaming window to FILE")
    args = parser.parse_args()
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
