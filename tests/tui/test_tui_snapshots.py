"""Snapshot tests of every screen (pytest-textual-snapshot) at 120×40 and 80×24.

The demo's seed (same answers and faults every time), a ticking fake clock for the waterfall's time axis, the
cursor blink off, and measured durations pinned by `FixedTimings`; everything else on screen comes from the real
engine and simulator. Update the baselines with `pytest tests/tui --snapshot-update` after looking at the change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_helpers import FixedTimings, TickClock, demo_profile, run_to_end, settled, until

from workbench.tui.app import make_app
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.health import HealthScreen
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.sessions import SessionsScreen
from workbench.tui.widgets import AnswerView, PromptArea

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


async def _settle(pilot: Pilot[Any]) -> None:
    for area in pilot.app.screen.query(PromptArea):
        area.cursor_blink = False
    assert await pilot.app.wait_for_engine()  # the engine is up: nothing left that could change the screen
    await settled(pilot)


def _at_end(view: AnswerView) -> bool:
    """The answer view shows its last row (scrolling there once more when a layout moved the end)."""
    if view.scroll_y >= view.max_scroll_y:
        return True
    view.scroll_end(animate=False, immediate=True)
    return False


def _app(tmp_path: Path) -> Any:
    return make_app(
        demo_profile(),
        engine_factory=FixedTimings,
        clock=TickClock(),
        settings_file=tmp_path / "settings.json",
        db_path=tmp_path / "wb.db",
    )


@pytest.mark.parametrize("size", SIZES)
def test_playground_after_a_fallback_run(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await run_to_end(pilot, "Why is the sky blue?", route="fallback")
        # Whether the answer ends scrolled to its end depends on how many 12 Hz frames the run spanned (the view
        # follows the end only once the text reached it): machine speed. The picture is of the end, always.
        view = pilot.app.screen.query_one(AnswerView)
        view.scroll_end(animate=False, immediate=True)
        await settled(pilot)
        # laid out at last (the Markdown the run's end made), the end may have moved: the picture is of the end
        await until(pilot, lambda: _at_end(view), "the answer to show its end")

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_compare_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.press("ctrl+k")
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.is_mounted,
            "the compare screen",
        )
        screen = pilot.app.screen
        for area in screen.query(PromptArea):
            area.cursor_blink = False
        screen.query_one(PromptArea).insert("Summarise the incident")
        screen.action_fault(screen.columns[0])  # the first column's primary will answer 503
        await settled(pilot)
        # (the columns' runs interleave on one clock, so their bars are covered by Pilot tests, not a snapshot)

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_compare_after_repeat_shows_latency_histograms(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.press("ctrl+k")
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.is_mounted,
            "the compare screen",
        )
        screen = pilot.app.screen
        for area in screen.query(PromptArea):
            area.cursor_blink = False
        screen.query_one(PromptArea).insert("Summarise the incident")
        screen.action_fault(screen.columns[0])
        screen.action_repeat(5)  # each column on a clock of its own (TickClock.fork): interleaving moves no bar
        await until(pilot, lambda: all(len(c.results) == 5 for c in screen.columns), "five runs in every column")
        await until(pilot, lambda: not screen._comparing, "the comparison's end (histograms on one scale)")
        await settled(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_sessions_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.press("ctrl+o")
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, SessionsScreen) and pilot.app.screen.is_mounted,
            "the sessions screen",
        )
        screen = pilot.app.screen
        await until(pilot, lambda: screen.pages.generation > 0 and not screen.counting, "the list of runs")
        await settled(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.press("f1")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, HelpScreen) and pilot.app.screen.is_mounted, "the help screen"
        )
        await settled(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_health_panel_with_an_open_breaker(
    snap_compare, tmp_path: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The health panel over the process-wide breaker book, filled through the engine's own recording API with
    fixed latencies; the book's clock stands still (no call runs in this test), so "open 900s" cannot tick."""
    import time
    import types

    from workbench.engine import health
    from workbench.profiles.policies import BreakerPolicy

    monkeypatch.setattr(health, "time", types.SimpleNamespace(monotonic=lambda: 1_000.0, time=time.time))

    policy = BreakerPolicy(enabled=True, failures=3, window_s=60, open_s=900, open_cap_s=900)
    for latency in (410.0, 390.0, 400.0):
        health.begin("sim/sim-swift")
        health.end("sim/sim-swift", policy, ok=True, counts=True, latency_ms=latency, probe=False)
    for _ in range(3):  # three failures within the window: the breaker opens for 900 s
        health.begin("sim/sim-outage")
        health.end("sim/sim-outage", policy, ok=False, counts=True, latency_ms=None, probe=False)
    health.begin("sim/sim-steady")  # one call still in flight

    async def run(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.press("f5")
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, HealthScreen) and pilot.app.screen.is_mounted,
            "the health panel",
        )
        await settled(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run)
