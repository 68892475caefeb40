"""Snapshots of the session browser at 120×40 and 80×24: the list, a run opened, and a re-run side by side.

The saved runs are synthetic (workbench.store.synthetic: fixed ids, timestamps, prompts); the re-run goes through
the real engine and simulator with measured durations pinned (`FixedTimings`) and the waterfall on a ticking fake
clock, as the other snapshots do. The re-run's id (random) is only in a toast, cleared before the picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_helpers import FixedTimings, TickClock, demo_profile, settled, until

from workbench.store import open_store
from workbench.store.synthetic import fill
from workbench.tui.app import make_app
from workbench.tui.screens.session_run import SessionRunScreen
from workbench.tui.screens.sessions import SessionsScreen

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


def _app(tmp_path: Path) -> Any:
    db = tmp_path / "wb.db"
    with open_store(db) as store:
        fill(store, 40)
    return make_app(
        demo_profile(),
        engine_factory=FixedTimings,
        clock=TickClock(),
        settings_file=tmp_path / "settings.json",
        db_path=db,
    )


async def _browser(pilot: Pilot[Any]) -> None:
    assert await pilot.app.wait_for_engine()
    await pilot.press("ctrl+o")
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, SessionsScreen) and pilot.app.screen.is_mounted,
        "the sessions screen",
    )
    screen = pilot.app.screen
    await until(pilot, lambda: screen.pages.generation > 0 and not screen.counting, "the list of runs")
    await settled(pilot)
    await pilot.press("down", "down")  # the cursor on run 37 (the list starts at 39)
    await until(pilot, lambda: screen.run_list.cursor == 2, "the cursor on the third run")
    await settled(pilot)


async def _open(pilot: Pilot[Any]) -> None:
    await _browser(pilot)
    await pilot.press("enter")
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, SessionRunScreen) and pilot.app.screen.is_mounted,
        "the run's screen",
    )
    screen = pilot.app.screen
    await until(pilot, lambda: screen.detail is not None, "the run to load")
    await settled(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_sessions_list(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=_browser)


@pytest.mark.parametrize("size", SIZES)
def test_sessions_open_run(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=_open)


@pytest.mark.parametrize("size", SIZES)
def test_sessions_rerun_side_by_side(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _open(pilot)
        screen = pilot.app.screen
        await pilot.press("r")
        await until(pilot, lambda: screen.new is not None and screen.new.finished is not None, "the re-run")
        await settled(pilot)
        pilot.app.clear_notifications()
        await settled(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run)
