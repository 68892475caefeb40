"""The playground sets what `workbench run --meta/--session` set, its footer fits 120 columns, and the waterfall gives
names and reasons the room they need (issue 20, item 21)."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from textual.widgets import Footer, Input
from tui_helpers import demo_profile, run_to_end, until

from workbench.store import EventWriter
from workbench.tui.app import make_app
from workbench.tui.widgets import Waterfall


async def test_metadata_reaches_the_routing_rules_and_bad_pairs_are_refused(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        screen = app.screen
        screen.query_one("#meta", Input).value = "risk"  # not k=v: refused, nothing sent
        await run_to_end(pilot, "Pay 900 EUR to a new account", route="risk")
        assert screen.state is None
        assert any("'risk' is not KEY=VALUE" in str(n.message) for n in app._notifications)
        screen.query_one("#meta", Input).value = "risk=high, channel=web"
        await run_to_end(pilot, "Pay 900 EUR to a new account", route="risk")
        started = next(e for r in screen.state.rows.values() for e in r.events if e.type == "hop_started")
        assert started is not None
        steps = [r.label for r in screen.state.rows.values() if r.kind == "step"]
        assert "review" in steps  # the high-risk branch: reachable from the TUI now
        assert any(r.kind == "decision" and "high-risk request" in r.detail for r in screen.state.rows.values())


async def test_a_session_continues_its_saved_conversation_and_files_the_runs_under_it(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    loaded = demo_profile()
    writer = EventWriter(db, session="default", profile=loaded)
    app = make_app(
        loaded, event_sink=writer.submit, db_path=db, set_session=writer.set_session, settings_file=tmp_path / "s.json"
    )
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await run_to_end(pilot, "not in a session")
        screen = app.screen
        screen.query_one("#session", Input).value = "ada"
        await run_to_end(pilot, "first turn of ada", route="frontier")
        assert screen.state.turn == 1  # a new session: no saved conversation yet
        first = screen.state.run_id
        assert writer.flush()
        await pilot.press("ctrl+l")  # a new chat forgets the conversation on screen ...
        screen.query_one("#session", Input).value = "bob"
        await run_to_end(pilot, "bob asks", route="frontier")
        screen.query_one("#session", Input).value = "ada"  # ... and naming ada again brings hers back
        await run_to_end(pilot, "second turn of ada", route="frontier")
        assert screen.state.turn == 2 and screen.state.history[0]["content"] == "first turn of ada"
        second = screen.state.run_id
    writer.close()
    sessions = {r["id"]: r["session"] for r in sqlite_utils.Database(db)["runs"].rows}
    assert sessions[first] == sessions[second] == "ada"
    assert sorted(sessions.values()) == ["ada", "ada", "bob", "default"]


async def test_the_footer_fits_120_columns_and_the_waterfall_does_not_cut_names(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        footer = app.screen.query_one(Footer)
        await until(pilot, lambda: footer.virtual_size.width > 0, "the footer laid out")
        assert footer.virtual_size.width <= footer.size.width  # nothing scrolled out of sight
        await run_to_end(pilot, "I love how fast the delivery was, thank you so much!", route="support")
        hops = app.screen.query_one(Waterfall)
        shown = [hops.get_option_at_index(i).prompt.plain for i in range(hops.option_count)]
        rows = [row for _, row in app.screen.state.ordered_rows()]
        for row, text in zip(rows, shown, strict=True):
            assert "…" not in text, text  # `step tria…` while columns beside it stayed empty
            if row.kind == "decision":
                assert text.split(": ", 1)[1] == row.detail  # the reason in full
            elif row.kind == "step":
                assert f"{row.kind} {row.label}" in text


async def test_a_route_picked_by_hand_hands_the_keyboard_to_the_prompt(tmp_path: Path) -> None:
    """Found in tmux: after ctrl+r and a pick, Tab led into the new meta field, so the question typed next landed
    there and ctrl+s had no prompt to send. Picking a route (or Enter in meta/session) now focuses the prompt."""
    from textual.widgets import Select

    from workbench.tui.widgets import PromptArea

    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        select = screen.query_one("#route", Select)
        first = select.value
        await pilot.press("ctrl+r")
        await until(pilot, lambda: select.has_focus, "the route picker to take the focus")
        await pilot.press("enter")  # opens the list
        await until(pilot, lambda: select.expanded, "the route list to open")
        await pilot.press("down", "enter")
        await until(pilot, lambda: select.value != first, "another route to be picked")
        await until(pilot, lambda: screen.query_one(PromptArea).has_focus, "the prompt to take the focus")
        await pilot.press("h", "i")
        assert screen.query_one(PromptArea).text == "hi"
        assert screen.query_one("#meta", Input).value == ""
        screen.query_one("#meta", Input).focus()
        await until(pilot, lambda: screen.query_one("#meta", Input).has_focus, "the meta field to take the focus")
        await pilot.press("enter")
        await until(pilot, lambda: screen.query_one(PromptArea).has_focus, "Enter in meta to lead to the prompt")
