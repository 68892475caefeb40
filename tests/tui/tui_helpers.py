"""Helpers for the TUI tests: the demo profile with fast simulator dials, and Pilot steps used by several tests.

The demo profile is loaded from profiles/demo.yaml (the file `make run` opens) and only its models' `sim`
dials are changed in memory: latencies shrink so a run takes milliseconds, while answers, faults, prices and
the seed stay as in the file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Select

from workbench.engine.events import Event, FirstToken, HopFinished, RunFinished
from workbench.profiles.load import LoadedProfile, load_profile
from workbench.tui.app import WorkbenchApp
from workbench.tui.widgets import AnswerView, PromptArea, Waterfall

DEMO = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"
FAST = {"ttft_ms": 2.0, "tokens_per_s": 20_000.0}
WAIT_S = 60.0  # what a wait on a state allows before it fails: only a hang takes this long


def demo_profile(**dials: Any) -> LoadedProfile:
    """The demo profile with every simulated model's dials overridden (default: FAST)."""
    loaded = load_profile(DEMO)
    update = dials or FAST
    models = {
        alias: model.model_copy(update={"sim": model.sim.model_copy(update=update)}) if model.sim else model
        for alias, model in loaded.profile.models.items()
    }
    return replace(loaded, profile=loaded.profile.model_copy(update={"models": models}))


async def send(pilot: Pilot[Any], prompt: str, route: str | None = None) -> None:
    """Pick a route, paste a prompt into the playground's editor and press ctrl+s."""
    screen = pilot.app.screen
    if route is not None:
        select = screen.query_one("#route", Select)
        select.value = route
        await until(pilot, lambda: screen.route == route, f"the route {route!r} to be picked")
    area = screen.query_one(PromptArea)
    area.focus()
    area.clear()
    area.insert(prompt)
    await pilot.press("ctrl+s")


async def run_to_end(pilot: Pilot[Any], prompt: str, route: str | None = None) -> None:
    """Send a prompt and wait until the run worker is done and its last frame is on screen."""
    app, screen = pilot.app, pilot.app.screen
    before = getattr(screen, "_worker", None)
    seen = {n.identity for n in app._notifications}
    refused = lambda: any(n.identity not in seen for n in app._notifications)  # noqa: E731  # said why, ran nothing
    await send(pilot, prompt, route)
    await until(pilot, lambda: screen._worker is not before or refused(), "the run to start (or be refused)")
    if screen._worker is not before:
        await run_ended(pilot)


async def run_ended(pilot: Pilot[Any]) -> None:
    """Wait until the playground's run is over on screen: its worker done and `_run_ended` (the last frame, the
    answer settled into Markdown, the scroll to its end) has run."""
    screen = pilot.app.screen
    await pilot.app.workers.wait_for_complete()
    await until(pilot, lambda: not screen.running and screen._live is None, "the run's last frame")
    answer = screen.query_one(AnswerView)
    await until(pilot, lambda: not answer._pending, "the answer's scroll to its end")


def statuses(app: WorkbenchApp, kind: str | None = "attempt") -> list[str]:
    return app.screen.query_one(Waterfall).statuses(kind)


def answer_text(app: WorkbenchApp) -> str:
    return app.screen.query_one(AnswerView).text


class TickClock:
    """A clock that advances 10 ms each time it is read: waterfall frames are then the same on every machine."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.01
        return self.t

    def peek(self) -> float:
        """What a frame reads: the time now, without advancing (frames vary in number; events do not)."""
        return self.t

    def fork(self) -> TickClock:
        """A clock of its own for one compare column (its runs' events interleave with the other columns')."""
        return TickClock()


class FixedTimings:
    """The real engine, with its measured durations replaced by fixed figures as events pass through.

    Snapshots must not depend on how fast the machine is: tokens, costs, statuses and text come from the real
    engine and simulator (seeded), only `latency_ms` / `ttft_ms` are pinned, as one pins a clock.
    """

    LATENCY_MS = 1234.0
    TTFT_MS = 56.0

    def __init__(self, loaded: LoadedProfile) -> None:
        from workbench.engine.run import Engine

        self._engine = Engine(loaded)

    async def __aenter__(self) -> FixedTimings:
        await self._engine.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._engine.__aexit__(*exc)

    async def run(self, prompt: str, **kw: Any) -> AsyncIterator[Event]:
        async with aclosing(self._engine.run(prompt, **kw)) as events:
            async for event in events:
                if isinstance(event, (HopFinished, RunFinished)):
                    ttft = None if event.ttft_ms is None else self.TTFT_MS
                    event = replace(event, latency_ms=self.LATENCY_MS, ttft_ms=ttft)
                elif isinstance(event, FirstToken):
                    event = replace(event, ttft_ms=self.TTFT_MS)
                yield event


async def until(pilot: Pilot[Any], done: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Let the app run until `done()` holds (workers, timers and messages in flight), failing after `timeout`.

    Waits on the state itself: each round lets the app process what is queued (and a timer due meanwhile fire);
    the timeout only bounds a hang, so it is generous: a loaded 2-core machine may take seconds."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.01)


wait_for = until  # the name the suite's brief uses; one helper


async def next_frame(pilot: Pilot[Any], timeout: float = WAIT_S) -> None:
    """Wait for the app's next refresh (a frame drawn): an event the app sets, not a length of time."""
    drawn = asyncio.Event()
    pilot.app.call_after_refresh(drawn.set)
    pilot.app.refresh()
    await asyncio.wait_for(drawn.wait(), timeout)


async def settled(pilot: Pilot[Any], what: str = "the screen to settle", timeout: float = WAIT_S) -> None:
    """Wait until the screen is final: no worker running, no animation scheduled, every message handled, and two
    pictures of the screen in a row the same (a callback a worker left, e.g. `call_after_refresh`, has drawn).

    For a snapshot, or an assertion on what is drawn, once the action the test took has nothing left to do."""
    app = pilot.app
    end = time.monotonic() + timeout
    last: str | None = None
    while True:
        await app.workers.wait_for_complete()
        await pilot.wait_for_scheduled_animations()
        await next_frame(pilot, timeout)
        shot = app.export_screenshot()
        if shot == last and not any(w.is_running for w in app.workers):
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: the screen kept changing")
        last = shot


def type_fast(app: WorkbenchApp, text: str, then: str | None = None) -> None:
    """Queue `text` as key presses (and then the key `then`) all at once, as a terminal delivers fast typing or an
    unbracketed paste: nothing is handled before the last key is queued (Pilot's `press` waits after each key)."""
    from textual import events

    names = {" ": "space", ",": "comma", "!": "exclamation_mark", ".": "full_stop", "\n": "ctrl+j"}
    for ch in text:
        app.post_message(events.Key(names.get(ch, ch), None if ch == "\n" else ch))
    if then is not None:
        app.post_message(events.Key(then, None))
