"""Snapshot tests of the run screen (pytest-textual-snapshot): idle, and after completed runs on the demo profile.

Fixed terminal size, the demo's seed (same answers and faults every time), no clock in the header, the cursor
blink off, and measured durations pinned by `FixedTimings`; everything else on screen comes from the real
engine and simulator. Update the baselines with `pytest tests/tui --snapshot-update` after checking the change.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input
from tui_helpers import FixedTimings, demo_profile, run_to_end

from workbench.tui.app import make_app

SIZE = (120, 36)


async def _settle(pilot: Pilot[Any]) -> None:
    pilot.app.query_one("#prompt", Input).cursor_blink = False
    assert await pilot.app.wait_for_engine()  # the engine is up: nothing left that could change the screen
    await pilot.pause()


def test_idle_screen(snap_compare) -> None:
    app = make_app(demo_profile(), engine_factory=FixedTimings)
    assert snap_compare(app, terminal_size=SIZE, run_before=_settle)


def test_after_a_run_on_the_fallback_route(snap_compare) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await run_to_end(pilot, "Why is the sky blue?", route="fallback")
        await pilot.pause()

    app = make_app(demo_profile(), engine_factory=FixedTimings)
    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_after_a_run_on_the_default_route(snap_compare) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await run_to_end(pilot, "Why is the sky blue?")
        await pilot.pause()

    app = make_app(demo_profile(), engine_factory=FixedTimings)
    assert snap_compare(app, terminal_size=SIZE, run_before=run)
