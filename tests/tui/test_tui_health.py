"""The health panel as a user reads it (issue 20, item 19): one row per target, a last error that agrees with the
state, and figures refreshed in place so the table can be scrolled and read while it updates."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable
from tui_helpers import demo_profile, run_to_end, until

from workbench.profiles.policies import DEFAULTS
from workbench.tui.app import make_app
from workbench.tui.screens.health import HealthScreen


async def test_one_row_per_target_and_the_cursor_stays_while_the_figures_refresh(tmp_path: Path) -> None:
    failures_to_open = int(DEFAULTS["breaker"]["failures"])  # type: ignore[index]
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        for _ in range(failures_to_open + 1):  # outage fails until its breaker opens, then it is skipped
            await run_to_end(pilot, "ping", route="fallback")
        await run_to_end(pilot, "ping", route="frontier")  # sage: a third target, all ok
        await pilot.press("f5")
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        table = screen.query_one(DataTable)
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
        # the skip decision names `outage` alone: it is the same target as sim-openai/outage, shown once
        assert sorted(rows) == ["sim-anthropic/sage", "sim-openai/outage", "sim-openai/steady"]
        assert rows["sim-openai/outage"][1].startswith("◐ open")
        assert "circuit open" in rows["sim-openai/outage"][5]  # why it is open, not a stale word from before
        assert rows["sim-openai/steady"][1] == "● closed" and rows["sim-openai/steady"][5] == ""

        table.focus()
        table.move_cursor(row=2)
        seen = screen.refreshes
        await until(pilot, lambda: screen.refreshes >= seen + 2, "two refreshes of the figures")
        assert table.cursor_row == 2  # rebuilt tables put the cursor back on the first row


async def test_an_error_followed_by_a_success_is_shown_as_recovered(tmp_path: Path) -> None:
    from workbench.engine.events import HopFinished, HopStarted
    from workbench.tui.health_model import health_rows
    from workbench.tui.screens.health import row_cells

    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    book = app.health
    for i, status in enumerate(("error", "ok")):
        hop = f"h{i}"
        book.observe(HopStarted(run_id="r", hop_id=hop, provider="sim-openai", model="swift", model_id="sim-swift"))
        book.observe(
            HopFinished(
                run_id="r",
                hop_id=hop,
                provider="sim-openai",
                model="swift",
                status=status,
                latency_ms=10.0,
                error="503 server error" if status == "error" else None,
            )
        )
    (row,) = [r for r in health_rows(book, None, app.profile) if r["target"] == "sim-openai/swift"]
    cells = [c.plain for c in row_cells(row)]
    assert cells[5] == "recovered: 503 server error"  # not the cause of the state it sits beside
