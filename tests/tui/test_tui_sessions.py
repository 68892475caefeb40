"""Pilot tests of the session browser against a real SQLite file and the embedded simulator (demo profile).

Runs come from the playground (saved by the app's EventWriter) or, for volume, from `workbench.store.synthetic`
(run i: id run-{i:08d}, route ROUTES[i % 4] = default/fallback/support/research, status error when i % 10 == 0,
degraded when i % 15 == 0, cancelled when i % 49 == 0, ok otherwise; the prompt ends with the word n{i}).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select
from tui_helpers import demo_profile, run_to_end, settled, until

from workbench.store import EventWriter, open_store
from workbench.store.synthetic import fill
from workbench.tui.app import WorkbenchApp, make_app
from workbench.tui.screens.session_run import SessionRunScreen
from workbench.tui.screens.sessions import ConfirmDelete, SessionsScreen
from workbench.tui.widgets import Waterfall


@contextmanager
def writer_for(db: Path, loaded: Any) -> Iterator[EventWriter]:
    with open_store(db) as store:
        writer = store.writer(session="t", profile=loaded)
    try:
        yield writer
    finally:
        writer.close()


def browser(app: WorkbenchApp) -> SessionsScreen:
    screen = app.screen
    assert isinstance(screen, SessionsScreen)
    return screen


def title(screen: SessionsScreen) -> str:
    """The box's title and the "N of TOTAL" drawn at the right of the column titles."""
    head = str(screen.query_one("#runs-head").render())
    assert head.rstrip().endswith(screen.position), (head, screen.position)
    return f"{screen.query_one('#runs-box').border_title} · {screen.position}"


def shown_ids(screen: SessionsScreen, n: int = 50) -> list[str]:
    return [r["id"] for i in range(min(n, screen.pages.total)) if (r := screen.pages.row(i)) is not None]


def current(screen: SessionsScreen) -> bool:
    """The rows of the newest query asked for are on screen, counted (not those of a query it replaced)."""
    return screen.shown is screen.filters and not screen.counting and screen._debounce is None


async def open_sessions(pilot: Pilot[Any]) -> SessionsScreen:
    await pilot.press("ctrl+o")
    screen = browser(pilot.app)  # type: ignore[arg-type]
    await until(pilot, lambda: screen.pages.generation > 0 and current(screen), "the first page and the count")
    await settled(pilot)  # nothing else in flight (a query a filter's first value may ask for) before the test acts
    await until(pilot, lambda: current(screen), "the newest query's rows")
    return screen


async def search(pilot: Pilot[Any], screen: SessionsScreen, text: str) -> None:
    generation = screen.pages.generation
    box = screen.query_one("#search", Input)
    box.focus()
    box.value = text
    await pilot.press("enter")
    await until(pilot, lambda: screen.pages.generation > generation and current(screen), f"the search {text!r}")


async def test_a_playground_run_appears_is_found_opens_and_reruns_side_by_side(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    loaded = demo_profile()
    with writer_for(db, loaded) as writer:
        app = make_app(loaded, event_sink=writer.submit, db_path=db, settings_file=tmp_path / "s.json")
        async with app.run_test(size=(120, 40)) as pilot:
            assert await app.wait_for_engine()
            await run_to_end(pilot, "Where is my refund?", route="fallback")
            run_id = app.screen.state.run_id
            assert writer.flush()

            screen = await open_sessions(pilot)
            assert shown_ids(screen) == [run_id]
            assert title(screen) == "runs · 1 of 1"

            await search(pilot, screen, "refu")  # a prefix, as typed
            assert shown_ids(screen) == [run_id] and title(screen) == "matching runs · 1 of 1"
            await search(pilot, screen, "weather")
            assert shown_ids(screen) == [] and title(screen) == "matching runs · 0 of 0"
            await search(pilot, screen, "")

            screen.run_list.focus()
            await pilot.press("enter")
            run_screen = app.screen
            assert isinstance(run_screen, SessionRunScreen)
            await until(pilot, lambda: run_screen.detail is not None, "the run to load")
            await settled(pilot)
            recorded = run_screen.query_one("#recorded-pane").query_one(Waterfall)
            # the fallback route as recorded: outage fails with a 503, steady answers, the fallback decision between
            assert recorded.statuses("attempt") == ["error", "ok"]
            assert "fallback" in recorded.statuses("decision")
            assert run_screen.query_one("#rerun-pane").display is False

            await pilot.press("r")
            await until(pilot, lambda: run_screen.new is not None and run_screen.new.finished is not None, "re-run")
            await settled(pilot)
            assert run_screen.query_one("#rerun-pane").display is True
            new = run_screen.new
            assert new is not None and new.route == "fallback"  # the original route: the profile still has it
            fresh = run_screen.query_one("#rerun-pane").query_one(Waterfall)
            assert fresh.statuses("attempt") == ["error", "ok"]
            deltas = str(run_screen.query_one("#run-deltas").render())
            assert "latency" in deltas and "cost" in deltas and "status ok (same)" in deltas
            assert writer.flush()
            with open_store(db) as store:
                saved = store.get_run(str(new.run_id))
                assert saved.run["prompt"] == "Where is my refund?" and saved.run["route"] == "fallback"
                assert store.count_runs() == 2

            await pilot.press("escape")
            assert app.screen is screen
            await until(pilot, lambda: screen.pages.total == 2, "the list to show the re-run")
            assert shown_ids(screen) == [new.run_id, run_id]


@pytest.fixture
def synthetic_db(tmp_path: Path) -> Path:
    db = tmp_path / "wb.db"
    with open_store(db) as store:
        fill(store, 60)  # runs 0..59
    return db


async def test_status_and_route_filters_and_the_filter_syntax(tmp_path: Path, synthetic_db: Path) -> None:
    app = make_app(demo_profile(), db_path=synthetic_db, settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sessions(pilot)
        assert title(screen) == "runs · 1 of 60"
        screen.query_one("#status-filter", Select).value = "error"
        await until(pilot, lambda: current(screen) and screen.shown.status == "error", "the status filter")
        assert shown_ids(screen) == ["run-00000050", "run-00000040", "run-00000030", "run-00000020",
                                     "run-00000010", "run-00000000"]  # fmt: skip
        screen.query_one("#route-filter", Select).value = "support"  # i % 4 == 2 and i % 10 == 0: 50, 30, 10
        await until(pilot, lambda: current(screen) and screen.shown.route == "support", "the route filter")
        assert shown_ids(screen) == ["run-00000050", "run-00000030", "run-00000010"]
        assert title(screen) == "matching runs · 1 of 3"
        screen.query_one("#status-filter", Select).clear()
        screen.query_one("#route-filter", Select).clear()
        await until(pilot, lambda: current(screen) and screen.shown.is_empty(), "the filters cleared")
        await search(pilot, screen, "status:degraded route:fallback")  # i % 15 == 0, odd multiple, i % 4 == 1: 45
        assert shown_ids(screen) == ["run-00000045"]
        await search(pilot, screen, "status:broken")
        assert "status:broken is not one of ok, error, degraded, cancelled" in str(
            screen.query_one("#runs-preview").render()
        )


async def test_typing_searches_once_the_keys_pause(tmp_path: Path, synthetic_db: Path) -> None:
    app = make_app(demo_profile(), db_path=synthetic_db, settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sessions(pilot)
        generation = screen.pages.generation
        screen.debounce_s = 1.0  # (150 ms in use; longer here so a loaded machine types three keys within it)
        screen.query_one("#search", Input).focus()
        await pilot.press(*"n42")
        assert screen.pages.generation == generation  # not yet: the debounce is waiting for more keys
        await until(pilot, lambda: screen.pages.generation > generation, "the debounced search")
        assert screen.pages.generation == generation + 1  # three keys, one query
        assert shown_ids(screen) == ["run-00000042"]


async def test_delete_asks_first_and_removes_the_run(tmp_path: Path, synthetic_db: Path) -> None:
    app = make_app(demo_profile(), db_path=synthetic_db, settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sessions(pilot)
        screen.run_list.focus()
        await pilot.press("down", "d")
        assert isinstance(app.screen, ConfirmDelete)
        assert "run-00000058" in str(app.screen.query_one("#confirm-text").render())
        await pilot.press("n")
        assert app.screen is screen
        with open_store(synthetic_db) as store:
            assert store.count_runs() == 60
        await pilot.press("d")
        await pilot.press("y")
        await until(pilot, lambda: screen.pages.total == 59, "the deletion")
        assert "run-00000058" not in shown_ids(screen, 60)
        assert shown_ids(screen)[:3] == ["run-00000059", "run-00000057", "run-00000056"]
        with open_store(synthetic_db) as store:
            assert store.count_runs() == 59
            assert store.conn.execute("SELECT count(*) FROM hops WHERE run_id = 'run-00000058'").fetchone()[0] == 0


@pytest.fixture(scope="module")
def db_100k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("big") / "wb.db"
    with open_store(db) as store:
        fill(store, 100_000)
    return db


async def test_100k_runs_open_page_to_the_end_and_search(tmp_path: Path, db_100k: Path) -> None:
    app = make_app(demo_profile(), db_path=db_100k, settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sessions(pilot)
        assert title(screen) == "runs · 1 of 100,000"
        assert screen.pages.row(0)["id"] == "run-00099999"
        screen.pages.max_pages = 3  # (12 in use) so that this walk drops pages and has to fetch them again
        lst = screen.run_list
        lst.focus()
        await pilot.press(*["pagedown"] * 12)  # ~12 screens: crosses several pages of 100 rows
        await until(pilot, lambda: lst.row is not None, "the rows under the cursor")
        at = lst.cursor
        assert at > 300 and lst.row["id"] == f"run-{99_999 - at:08d}"
        assert title(screen) == f"runs · {at + 1:,} of 100,000"
        await pilot.press("end")
        await until(pilot, lambda: lst.row is not None, "the last page")
        assert lst.cursor == 99_999 and lst.row["id"] == "run-00000000"
        assert title(screen) == "runs · 100,000 of 100,000"
        await pilot.press("pageup", "pageup")
        await until(pilot, lambda: lst.row is not None, "the page above the last")
        assert lst.row["id"] == f"run-{99_999 - lst.cursor:08d}"
        for key, expected in (("home", "run-00099999"), ("end", "run-00000000"), ("home", "run-00099999")):
            await pilot.press(key)  # pages dropped on the way are fetched again
            await until(pilot, lambda: lst.row is not None, f"the rows after {key}")
            assert lst.row["id"] == expected
        assert screen.pages.held() <= 3 * 100  # never more than the page cap in memory
        await search(pilot, screen, "n9999")  # n9999 and n99990..n99999
        assert title(screen) == "matching runs · 1 of 11"
        assert shown_ids(screen)[:2] == ["run-00099999", "run-00099998"] and shown_ids(screen)[-1] == "run-00009999"


async def test_a_run_whose_route_is_gone_reruns_on_the_playground_route_and_says_so(
    tmp_path: Path, synthetic_db: Path
) -> None:
    app = make_app(demo_profile(), db_path=synthetic_db, settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        app.screen.select_route("budget")  # the playground's route
        screen = await open_sessions(pilot)
        assert "research" not in app.loaded.profile.routes
        await search(pilot, screen, "n59")  # run 59: route ROUTES[59 % 4] = research
        screen.run_list.focus()
        await pilot.press("enter")
        run_screen = app.screen
        assert isinstance(run_screen, SessionRunScreen)
        await until(pilot, lambda: run_screen.detail is not None, "the run to load")
        assert run_screen.detail.run["route"] == "research"
        await pilot.press("r")
        await until(pilot, lambda: run_screen.new is not None and run_screen.new.finished is not None, "re-run")
        await settled(pilot)
        assert run_screen.new.route == "budget"
        note = str(run_screen.query_one("#run-deltas").render())
        assert "re-run on the current route 'budget' (the profile has no route 'research' any more)" in note
