"""Runs made in the TUI land in the session store, whole, through the same writer `workbench run` uses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import sqlite_utils
from tui_helpers import demo_profile, run_to_end

from workbench.store import EventWriter
from workbench.tui.app import make_app


async def test_a_run_in_the_tui_is_saved_with_its_hops(tmp_path: Path) -> None:
    db_path = tmp_path / "tui.db"
    loaded = demo_profile()
    writer = EventWriter(db_path, session="tui-test", profile=loaded)
    app = make_app(loaded, event_sink=writer.submit)
    async with app.run_test(size=(120, 36)) as pilot:
        await app.wait_for_engine()
        await run_to_end(pilot, "Why is the sky blue?", route="fallback")
        final = app.screen.state.finished
    writer.close()
    assert final is not None and final.status == "ok"
    db = sqlite_utils.Database(db_path)
    runs = list(db["runs"].rows)
    assert [r["id"] for r in runs] == [final.run_id]
    hops = list(db["hops"].rows_where("run_id = ?", [final.run_id]))
    assert sorted(h["status"] for h in hops if h["kind"] == "attempt") == ["error", "ok"]
    assert sum(Decimal(h["cost_exact"]) for h in hops) == Decimal(runs[0]["cost_exact"]) == Decimal(final.cost["total"])
