"""Pilot tests of the screens against the embedded simulator (demo profile, fast dials)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from tui_helpers import TickClock, answer_text, demo_profile, run_to_end, settled, statuses, until

from workbench.tui.app import make_app
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.sessions import SessionsScreen
from workbench.tui.widgets import PromptArea, Waterfall


async def compared(pilot: Pilot[Any], screen: CompareScreen, n: int) -> None:
    """Wait until every column has `n` results and the comparison has ended (last frames, histograms' scale)."""
    await until(pilot, lambda: all(len(c.results) == n for c in screen.columns), f"{n} runs in every column")
    await until(pilot, lambda: not screen._comparing, "the comparison's end")
    await pilot.app.workers.wait_for_complete()


async def test_send_shows_hops_and_totals_equal_run_finished(tmp_path: Path) -> None:
    app = make_app(demo_profile(), clock=TickClock(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await run_to_end(pilot, "Why is the sky blue?", route="fallback")
        screen = app.screen
        fin = screen.state.finished
        assert fin is not None and fin.status == "ok"
        assert statuses(app) == ["error", "ok"]  # outage fails (503), steady answers
        totals = screen.state.totals()
        assert (totals["latency_ms"], totals["output_tokens"], totals["cost"]) == (
            fin.latency_ms,
            fin.output_tokens,
            fin.cost_usd,
        )
        attempts = [r for r in screen.state.rows.values() if r.kind == "attempt"]
        assert sum((r.cost_usd or Decimal(0)) for r in attempts) == fin.cost_usd
        assert "fallback" in [r.status for r in screen.state.rows.values() if r.kind == "decision"]
        assert answer_text(app).strip() == fin.output.strip()


async def test_a_multi_line_prompt_is_sent_whole_and_history_carries_over(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        prompt = "first line\nsecond line\n\nfourth line"
        await run_to_end(pilot, prompt)
        state = app.screen.state
        started = state.rows[next(iter(state.rows))].events  # any row; the prompt is on the state itself
        assert started and state.prompt == prompt
        assert app.screen.query_one(PromptArea).text == prompt
        await run_to_end(pilot, "and then?")
        assert app.screen.state.history[0] == {"role": "user", "content": prompt}
        assert app.screen.state.turn == 2


async def test_compare_with_a_forced_fault_shows_the_fallback_and_repeat_gives_n_runs(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await pilot.press("ctrl+k")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        screen.query_one(PromptArea).insert("Summarise the incident")
        first = screen.columns[0]
        assert first.route == "default"
        screen.action_fault(first)
        assert first.fault == "http_503"
        screen.action_repeat(3)
        await compared(pilot, screen, 3)
        assert [len(c.results) for c in screen.columns] == [3, 3, 3]
        rows = first.state.rows.values()
        assert [r.status for r in rows if r.kind == "attempt"] == ["error", "ok"]  # swift 503, steady took over
        assert any(r.kind == "decision" and r.status == "fallback" for r in rows)
        untouched = screen.columns[2].state.rows.values()  # frontier: sage answers first time
        assert [r.status for r in untouched if r.kind == "attempt"] == ["ok"]


async def test_a_run_appears_in_sessions(tmp_path: Path) -> None:
    from workbench.store import open_store

    db = tmp_path / "wb.db"
    loaded = demo_profile()
    with open_store(db) as store:
        writer = store.writer(session="t", profile=loaded)
    try:
        app = make_app(loaded, event_sink=writer.submit, db_path=db, settings_file=tmp_path / "s.json")
        async with app.run_test(size=(120, 40)) as pilot:
            assert await app.wait_for_engine()
            await run_to_end(pilot, "Where is my refund?")
            run_id = app.screen.state.run_id
            assert writer.flush()
            await pilot.press("ctrl+o")
            screen = app.screen
            assert isinstance(screen, SessionsScreen)
            await until(pilot, lambda: screen.pages.generation > 0 and not screen.counting, "the list of runs")
            assert screen.pages.total == 1 and screen.pages.row(0)["id"] == run_id
    finally:
        writer.close()


async def test_f1_opens_help_listing_the_keys(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "ctrl+s" in text and "Compare" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_typing_at_start_goes_to_the_prompt_and_its_question_mark_is_text(tmp_path: Path) -> None:
    # The web view (`workbench serve`) gives the page's keys to the app at once; the app must have the prompt
    # focused then, or a question's `?` opens help (test_serve_browser.py types into the real page).
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"Why?")
        assert not isinstance(app.screen, HelpScreen)
        assert app.screen.query_one(PromptArea).text == "Why?"


async def test_enter_on_a_hop_opens_its_detail(tmp_path: Path) -> None:
    from workbench.tui.screens.hop_detail import HopDetailScreen

    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await run_to_end(pilot, "hi")
        hops = app.screen.query_one(Waterfall)
        hops.focus()
        hops.highlighted = 2  # the attempt under the step
        await pilot.press("enter")
        assert isinstance(app.screen, HopDetailScreen)
        assert '"hop_finished"' in str(app.screen.query_one("#hop-detail").render())


async def test_what_if_reprices_a_finished_column_at_another_models_prices(tmp_path: Path) -> None:
    from workbench.tui.whatif import finished_hops
    from workbench.tui.widgets.text_lines import TextLines

    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await pilot.press("ctrl+k")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        screen.query_one(PromptArea).insert("Summarise the incident")
        await screen.action_send()
        await compared(pilot, screen, 1)
        col = screen.columns[0]
        choices = [None, *app.loaded.profile.models]
        while col.whatif != "sage":
            screen.action_whatif(col)
            assert col.whatif in choices
        # by hand: every attempt's usage at sage's published rates (USD per 1M: input 3.00, output 15.00)
        usage = [h.usage for h in finished_hops(col.state) if h.kind == "attempt" and h.usage]
        assert usage and all(u["cache_read_tokens"] == 0 and u["reasoning_tokens"] == 0 for u in usage)
        expected = sum(
            (Decimal(u["input_tokens"]) * Decimal("3.00") + Decimal(u["output_tokens"]) * Decimal("15.00"))
            / Decimal(1_000_000)
            for u in usage
        )
        shown = col.query_one("#col-whatif", TextLines).plain
        assert shown.startswith("what-if sage: $") and "re-priced, not called" in shown
        from workbench.tui.fmt import usd

        assert f"${usd(expected)}" in shown


async def test_a_classifier_label_is_a_hop_not_part_of_the_answer(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        prompt = "My order arrived broken and support ignored me twice. I was charged two times and I want a refund!"
        await run_to_end(pilot, prompt, route="support")
        state = app.screen.state
        fin = state.finished
        assert fin is not None and fin.status == "ok"
        roles = [e.role for r in state.rows.values() for e in r.events if getattr(e, "type", "") == "hop_started"]
        assert "classifier" in roles  # the label was asked for, and shown as a hop
        shown = answer_text(app)
        assert '"label"' not in shown and "confidence" not in shown
        assert shown.strip() == fin.output.strip()


async def test_the_health_panel_shows_a_breaker_opening(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from workbench.profiles.policies import DEFAULTS
    from workbench.tui.screens.health import HealthScreen

    failures_to_open = int(DEFAULTS["breaker"]["failures"])  # type: ignore[index]
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        for _ in range(failures_to_open):  # `outage` answers 503 every time; `steady` takes over each run
            await run_to_end(pilot, "ping", route="fallback")
        await run_to_end(pilot, "ping", route="fallback")  # now the open breaker skips outage at once
        rows = app.screen.state.rows.values()
        assert [r.status for r in rows if r.kind == "attempt"] == ["skipped", "ok"]
        await pilot.press("ctrl+h")
        await until(pilot, lambda: isinstance(app.screen, HealthScreen) and app.screen.is_mounted, "the health panel")
        await settled(pilot)
        table = app.screen.query_one(DataTable)
        cells = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert re.match(r"◐ open \d+s \(\d+ failures\)", cells["sim-openai/outage"])
        assert f"({failures_to_open} failures)" in cells["sim-openai/outage"]
        assert cells["sim-openai/steady"] == "● closed"


async def test_repeat_five_gives_five_runs_per_column_and_histograms_of_their_latencies(tmp_path: Path) -> None:
    from textual_plotext import PlotextPlot

    from workbench.engine.events import RunFinished, RunStarted
    from workbench.tui.widgets.latency_histogram import LatencyHistogram

    route_of: dict[str, str] = {}
    finished: dict[str, list[float]] = {}

    def sink(event: object) -> None:  # the engine's own figures, independent of what the columns recorded
        if isinstance(event, RunStarted):
            route_of[event.run_id] = event.route
        elif isinstance(event, RunFinished):
            finished.setdefault(route_of[event.run_id], []).append(event.latency_ms)

    app = make_app(demo_profile(), settings_file=tmp_path / "s.json", event_sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await pilot.press("ctrl+k")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        screen.query_one(PromptArea).insert("Summarise the incident")
        assert not screen.query(PlotextPlot)  # nothing plotted (nor imported for the screen) before a repeat
        screen.action_repeat(5)
        await compared(pilot, screen, 5)
        scales = set()
        for col in screen.columns:
            hist = col.query_one(LatencyHistogram)
            assert len(col.results) == 5
            assert hist.values == finished[col.route] == [float(r["latency_ms"]) for r in col.results]
            assert hist.display and hist.query_one(PlotextPlot).display
            assert sum(hist.scale.counts(hist.values)) == 5
            scales.add(hist.scale)
        (scale,) = scales  # one scale for all columns: bins and heights compare across them
        every = [v for vs in finished.values() for v in vs]
        assert scale.lo <= min(every) and max(every) <= scale.hi


async def test_tab_cycles_prompt_columns_and_fault_toggles_and_enter_changes_a_fault(tmp_path: Path) -> None:
    from workbench.tui.widgets.fault_toggle import FaultToggle

    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+k")
        await until(
            pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.is_mounted, "the compare screen"
        )
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        prompt = screen.query_one(PromptArea)
        cols = screen.columns
        toggles = [c.query_one(FaultToggle) for c in cols]
        assert len(cols) == 3 and screen.focused is prompt
        expected = [*cols, *toggles, prompt]  # forward once round
        seen = []
        for _ in expected:
            await pilot.press("tab")
            seen.append(screen.focused)
        assert seen == expected
        back = []
        for _ in expected:
            await pilot.press("shift+tab")
            back.append(screen.focused)
        assert back == [*reversed(toggles), *reversed(cols), prompt]
        # On the second column's toggle, Enter moves that column (only) to the next fault, as `f` would.
        for _ in range(5):
            await pilot.press("tab")
        assert screen.focused is toggles[1]
        await pilot.press("enter")
        assert [c.fault for c in cols] == ["none", "http_503", "none"]
        assert "http_503" in str(toggles[1].render())
        await pilot.press("space")
        assert cols[1].fault == "http_429"


async def test_streaming_compare_columns_repaint_without_laying_out_the_screen_each_frame(tmp_path: Path) -> None:
    # Three columns stream ~3 s each at 12 frames a second (long enough that a starved machine still draws well
    # over 12 frames: at ~1.5 s, loaded runs drew 9-11). Text growing in a column, its totals counting up and its
    # bars growing must repaint lines, not lay out the screen: layouts come from the send (room reserved), a
    # fallback's extra rows and the end of the send, not from frames.
    loaded = demo_profile(ttft_ms=5.0, tokens_per_s=400.0, answer_tokens=1200)
    app = make_app(loaded, settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await pilot.press("ctrl+k")
        await until(
            pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.is_mounted, "the compare screen"
        )
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        screen.query_one(PromptArea).insert("Explain circuit breakers")
        counts = {"layouts": 0, "frames": 0}
        refresh_layout, frame = screen._refresh_layout, screen._frame

        def counting_layout(*args: object, **kwargs: object) -> None:
            counts["layouts"] += 1
            refresh_layout(*args, **kwargs)  # type: ignore[arg-type]

        async def counting_frame() -> None:
            counts["frames"] += 1
            await frame()

        screen._refresh_layout = counting_layout  # type: ignore[method-assign]
        screen._frame = counting_frame  # type: ignore[method-assign]
        screen._ticker.stop()
        screen._ticker = screen.set_interval(1 / 12, counting_frame, pause=True)
        await screen.action_send()
        await compared(pilot, screen, 1)
        assert all(len(c.results) == 1 for c in screen.columns)
        assert counts["frames"] >= 12
        assert counts["layouts"] <= 10 < counts["frames"]
