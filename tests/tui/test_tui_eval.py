"""The Eval screen (ctrl+t) against the embedded simulator: an eval of two demo routes on a small dataset written
here, the table's numbers against the store, the export of the best route, and a snapshot after a finished eval.

The dataset's checks do not depend on the answers' words: three cases allow 100,000 output tokens (every answered
run passes), two ask for a text no simulated answer contains (every run fails). So each route passes 3 of 5, by
hand, whatever the seed says.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, SelectionList
from tui_helpers import FixedTimings, TickClock, demo_profile, settled, until

from workbench.eval.stats import wilson
from workbench.profiles.load import load_profile
from workbench.tui.app import make_app
from workbench.tui.screens.eval import EvalScreen

NEVER = "zq-no-simulated-answer-says-this"


def write_dataset(path: Path) -> Path:
    cases = [
        {"id": f"ok-{i}", "input": f"Question {i}: how do refunds work?", "checks": {"max_tokens": 100_000}}
        for i in range(3)
    ]
    cases += [
        {"id": f"no-{i}", "input": f"Question {i}: where is my parcel?", "checks": {"contains": [NEVER]}}
        for i in range(2)
    ]
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


async def _start(pilot: Pilot[Any], dataset: Path, routes: list[str], concurrency: int = 4) -> EvalScreen:
    await pilot.press("ctrl+t")
    screen = pilot.app.screen
    assert isinstance(screen, EvalScreen)
    screen.query_one("#eval-dataset", Input).value = str(dataset)
    screen.query_one("#eval-concurrency", Input).value = str(concurrency)
    picks = screen.query_one("#eval-routes", SelectionList)
    picks.deselect_all()
    for r in routes:
        picks.select(r)
    await until(pilot, lambda: sorted(picks.selected) == sorted(routes), "the routes picked")
    status = lambda: str(screen.query_one("#eval-status").render())  # noqa: E731
    before = status()
    await pilot.press("ctrl+s")
    # started (the worker says what it reads) or refused (said at once); then, once no eval runs, it is over
    await until(pilot, lambda: status() != before, "the eval to start or be refused")
    await until(pilot, lambda: not screen.running, "the eval's end")
    await pilot.app.workers.wait_for_complete()
    return screen


async def test_an_eval_of_two_routes_fills_the_table_the_store_and_exports_the_best(tmp_path: Path) -> None:
    from workbench.store import open_store

    db = tmp_path / "wb.db"
    profile_file = tmp_path / "demo.yaml"  # the export is written next to the profile: keep it in tmp
    loaded = demo_profile()
    profile_file.write_text(loaded.text, encoding="utf-8")
    loaded = replace(loaded, path=profile_file)
    dataset = write_dataset(tmp_path / "small.jsonl")
    with open_store(db) as store:
        writer = store.writer(session="t", profile=loaded)
    try:
        app = make_app(loaded, event_sink=writer.submit, db_path=db, settings_file=tmp_path / "s.json")
        async with app.run_test(size=(120, 40)) as pilot:
            assert await app.wait_for_engine()
            screen = await _start(pilot, dataset, ["default", "fallback"])
            assert screen.summary is not None and screen.saved
            table = screen.query_one("#eval-results", DataTable)
            shown = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(table.row_count)}
            assert set(shown) == {"default", "fallback"}
            lo, hi = wilson(3, 5)  # 3 of 5 pass on either route, by construction of the dataset
            for route in ("default", "fallback"):
                assert shown[route][1] == "3/5"
                assert shown[route][2] == f"60.0% [{lo:.1%}, {hi:.1%}]"
            # every progress bar reached its total
            assert [(p.done, p.failed) for p in screen.progress.values()] == [(5, 2), (5, 2)]
            assert screen.summary["verdict"] in str(screen.query_one("#eval-verdict").render())
            assert writer.flush()
            with open_store(db) as store:
                evals = store.conn.execute("SELECT id, routes FROM evals").fetchall()
                counts = dict(
                    store.conn.execute(
                        "SELECT route, sum(passed) || '/' || count(*) FROM eval_results WHERE eval_id = ?"
                        " GROUP BY route",
                        (screen.eval_id,),
                    ).fetchall()
                )
                run_ids = {r for (r,) in store.conn.execute("SELECT run_id FROM eval_results").fetchall()}
                saved_runs = {r for (r,) in store.conn.execute("SELECT id FROM runs").fetchall()}
            assert evals == [(screen.eval_id, json.dumps(["default", "fallback"]))]
            assert counts == {"default": shown["default"][1], "fallback": shown["fallback"][1]}
            assert len(run_ids) == 10 and run_ids <= saved_runs  # each eval run saved like any other run
            # the best route: equal pass rates, so the cheaper one; it is the one the table marks "best"
            best = next(r for r, row in shown.items() if row[7].startswith("best"))
            costs = {r: float(screen.summary["routes"][r]["cost_mean_usd"]) for r in shown}
            assert best == min(costs, key=costs.__getitem__)
            await pilot.press("x")
            await until(pilot, lambda: screen.exported is not None, "the export")
            out = tmp_path / f"{best}.export.yaml"
            assert screen.exported == out and out.is_file()
            assert list(yaml.safe_load(out.read_text())["routes"]) == [best]
            assert screen.eval_id in out.read_text()  # provenance quotes the eval
            assert list(load_profile(out).profile.routes) == [best]  # loads back as a profile
    finally:
        writer.close()


async def test_bad_input_says_what_and_runs_nothing(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _start(pilot, tmp_path / "missing.jsonl", ["default"])
        status = str(screen.query_one("#eval-status").render())
        assert "missing.jsonl" in status and screen.summary is None
        screen.query_one("#eval-repeat", Input).value = "0"
        await pilot.press("ctrl+s")
        assert "repeat: 0 is outside 1..100" in str(screen.query_one("#eval-status").render())
        await pilot.press("x")  # nothing to export yet: a warning, no file
        assert screen.exported is None


@pytest.mark.parametrize("size", [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")])
def test_eval_screen_after_a_finished_eval(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    dataset = write_dataset(tmp_path / "small.jsonl")

    async def run(pilot: Pilot[Any]) -> None:
        assert await pilot.app.wait_for_engine()
        screen = await _start(pilot, dataset, ["default", "fallback"], concurrency=1)
        screen.query_one("#eval-dataset", Input).value = "small.jsonl"  # the tmp path differs on every run
        screen.query_one("#eval-dataset", Input).cursor_blink = False
        table = screen.query_one("#eval-results", DataTable)
        table.focus()
        await until(pilot, lambda: screen.focused is table, "the results to take the focus")
        await settled(pilot)

    app = make_app(demo_profile(), engine_factory=FixedTimings, clock=TickClock(), settings_file=tmp_path / "s.json")
    assert snap_compare(app, terminal_size=size, run_before=run)
