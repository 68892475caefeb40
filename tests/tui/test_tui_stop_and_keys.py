"""Stopping runs (Esc) in the playground and in compare, keys that arrive faster than they are handled, and the
function keys that switch screens: what a user meets at the keyboard (issue 20, item 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import sqlite_utils
from tui_helpers import demo_profile, type_fast, until

from workbench.engine.events import Event
from workbench.profiles.load import LoadedProfile
from workbench.store import EventWriter
from workbench.tui.app import make_app
from workbench.tui.composer import Composer
from workbench.tui.runner import ACTIVE
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.eval import EvalScreen
from workbench.tui.screens.playground import PlaygroundScreen
from workbench.tui.screens.sessions import SessionsScreen
from workbench.tui.widgets import PromptArea
from workbench.tui.widgets.text_lines import TextLines

SLOW = {"ttft_ms": 2.0, "tokens_per_s": 5.0}  # an answer takes many seconds: Esc lands mid-stream


def saved_runs(db: Path) -> dict[str, str]:
    return {row["id"]: row["status"] for row in sqlite_utils.Database(db)["runs"].rows}


def streaming(state: Any) -> bool:
    return state is not None and any(r.kind == "attempt" and r.status == "streaming" for r in state.rows.values())


async def test_esc_in_compare_stops_every_column_and_the_runs_are_saved_as_cancelled(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    loaded = demo_profile(**SLOW)
    writer = EventWriter(db, session="t", profile=loaded)
    app = make_app(loaded, event_sink=writer.submit, settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await pilot.press("ctrl+k")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        screen.query_one(PromptArea).insert("Summarise the incident")
        screen.query_one(PromptArea).focus()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: all(streaming(c.state) for c in screen.columns), "every column streaming")
        await pilot.press("escape")
        await until(pilot, lambda: not screen._comparing, "the comparison to end")
        run_ids = {}
        for col in screen.columns:
            assert col.state is not None and col.state.finished is not None
            assert col.state.finished.status == "cancelled"
            assert not [r for r in col.state.rows.values() if r.status in ACTIVE]  # nothing left `● running`
            assert col.state.totals()["status"] == "cancelled"
            assert col.query_one("#col-run", TextLines).plain.splitlines()[-1].startswith("cancelled")  # as shown
            assert col.marks == ["stopped"]  # not "failed"
            run_ids[col.state.run_id] = "cancelled"
    writer.close()
    assert saved_runs(db) == run_ids and len(run_ids) == 3


class DeafEngine:
    """The real engine, except that it never hears the cancel token: a run that does not wind down when asked."""

    def __init__(self, loaded: LoadedProfile) -> None:
        from workbench.engine.run import Engine

        self._engine = Engine(loaded)

    async def __aenter__(self) -> DeafEngine:
        await self._engine.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._engine.__aexit__(*exc)

    async def run(self, prompt: str, *, cancel: Any = None, **kw: Any) -> AsyncIterator[Event]:
        async with aclosing(self._engine.run(prompt, **kw)) as events:
            async for event in events:
                yield event


async def test_a_run_that_ignores_stop_is_cut_after_a_grace_period_and_still_saved_as_cancelled(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wb.db"
    loaded = demo_profile(**SLOW)
    writer = EventWriter(db, session="t", profile=loaded)
    app = make_app(loaded, engine_factory=DeafEngine, event_sink=writer.submit, settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        screen = app.screen
        assert isinstance(screen, PlaygroundScreen)
        screen.query_one(PromptArea).insert("Why is the sky blue?")
        screen.query_one(PromptArea).focus()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: streaming(screen.state), "the answer streaming")
        await pilot.press("escape")
        await until(pilot, lambda: not screen.running, "the run to be cut")
        state = screen.state
        assert state is not None and state.cancelled
        assert state.finished is not None and state.finished.status == "cancelled"
        run_id = state.run_id
    writer.close()
    assert saved_runs(db) == {run_id: "cancelled"}
    hops = list(sqlite_utils.Database(db)["hops"].rows_where("run_id = ?", [run_id]))
    assert hops and all(h["status"] != "running" for h in hops)


async def test_keys_typed_just_before_ctrl_s_are_part_of_the_prompt_sent(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        screen = app.screen
        assert isinstance(screen, PlaygroundScreen)
        screen.query_one(PromptArea).focus()
        type_fast(app, "Thanks, zebracorn!", then="ctrl+s")
        await until(pilot, lambda: screen.state is not None and screen.state.finished is not None, "the run")
        assert screen.query_one(PromptArea).text == "Thanks, zebracorn!"
        assert screen.state.prompt == "Thanks, zebracorn!"


async def test_a_newline_pasted_as_ctrl_j_is_a_new_line_not_a_send(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        for key in ("ctrl+k", "ctrl+g"):  # the playground's prompt, then compare's
            await pilot.press(key)
            screen = app.screen
            area = screen.query_one(PromptArea)
            area.focus()
            type_fast(app, "first line\nsecond line")
            await until(pilot, lambda a=area: a.text.endswith("second line"), "the pasted text")
            assert area.text == "first line\nsecond line"
            assert not [w for w in app.workers if w.group in ("run", "compare")]  # nothing was sent


async def test_function_keys_always_show_the_screen_of_their_mode_and_one_composer_at_most(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(demo_profile().text)
    from workbench.profiles.load import load_profile

    app = make_app(load_profile(path), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2", "ctrl+e")
        assert isinstance(app.screen, Composer)
        await pilot.press("f7")
        assert isinstance(app.screen, EvalScreen)
        await pilot.press("f2")
        assert isinstance(app.screen, PlaygroundScreen) and len(app.screen_stack) == 1
        await pilot.press("ctrl+e", "ctrl+o", "ctrl+e")
        assert isinstance(app.screen, Composer) and len(app.screen_stack) == 2  # sessions, then one composer
        await pilot.press("f5", "ctrl+e")  # the health panel over the composer, then routes again: no second one
        assert isinstance(app.screen, Composer)
        assert sum(isinstance(s, Composer) for s in app.screen_stack) == 1
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, PlaygroundScreen) and len(app.screen_stack) == 1
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, SessionsScreen) and len(app.screen_stack) == 1
