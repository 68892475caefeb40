"""Keyset paging, counts and filters of the session browser's store API (browse.py), against real SQLite files.

The runs come from `workbench.store.synthetic` (run i starts at T0 + 60 i s, id run-{i:08d}; route = ROUTES[i % 4],
model = MODELS[i % 3], status: i % 10 == 0 error, else i % 15 == 0 degraded, else i % 49 == 0 cancelled, else ok;
cost = (i % 100) / 10,000 dollars; the prompt ends with the word n{i}). Expected rows are written out by hand.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from workbench.errors import StoreError
from workbench.store import RunFilter, Store, migrations, open_store
from workbench.store.store import open_connection
from workbench.store.synthetic import STEP_S, T0, fill

N = 300


@pytest.fixture
def runs300(db_path: Path) -> Store:
    store = open_store(db_path)
    fill(store, N)
    yield store  # type: ignore[misc]
    store.close()


def ids(rows: list[dict]) -> list[int]:
    return [int(r["id"].removeprefix("run-")) for r in rows]


def test_pages_by_key_cover_every_run_once_newest_first(runs300: Store) -> None:
    seen: list[int] = []
    page = runs300.list_runs(7, filters=RunFilter())
    while page:
        seen += ids(page)
        page = runs300.list_runs(7, filters=RunFilter(), before=page[-1]["cursor"])
    assert seen == list(range(299, -1, -1))
    assert runs300.count_runs() == 300


def test_after_gives_the_page_above_and_from_end_the_oldest(runs300: Store) -> None:
    first = runs300.list_runs(5, filters=RunFilter())
    second = runs300.list_runs(5, filters=RunFilter(), before=first[-1]["cursor"])
    assert ids(second) == [294, 293, 292, 291, 290]
    assert ids(runs300.list_runs(5, filters=RunFilter(), after=second[0]["cursor"])) == [299, 298, 297, 296, 295]
    assert ids(runs300.list_runs(5, filters=RunFilter(), from_end=True)) == [4, 3, 2, 1, 0]
    assert ids(runs300.list_runs(3, filters=RunFilter(), offset=10)) == [289, 288, 287]


def test_runs_started_at_the_same_instant_are_paged_by_id_without_loss(runs300: Store) -> None:
    with runs300.transaction("tying timestamps") as conn:
        conn.execute("UPDATE runs SET started_ts = ? WHERE id <= 'run-00000009'", (T0,))
    seen: list[int] = []
    page = runs300.list_runs(3, filters=RunFilter(until=T0 + 1))
    while page:
        seen += ids(page)
        page = runs300.list_runs(3, filters=RunFilter(until=T0 + 1), before=page[-1]["cursor"])
    assert seen == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]


def test_status_filter(runs300: Store) -> None:
    # cancelled: multiples of 49 that are multiples of neither 10 nor 15 -> 49, 98, 147, 196, 245, 294
    f = RunFilter(status="cancelled")
    assert ids(runs300.list_runs(50, filters=f)) == [294, 245, 196, 147, 98, 49]
    assert runs300.count_runs(f) == 6
    # degraded: multiples of 15 that are not multiples of 10: 15, 45, 75, ..., 285 (odd multiples of 15) -> 10
    assert runs300.count_runs(RunFilter(status="degraded")) == 10


def test_route_and_status_together(runs300: Store) -> None:
    # support = i % 4 == 2, error = i % 10 == 0: i = 10, 30, 50, ... 290 (15 runs)
    f = RunFilter(route="support", status="error")
    assert ids(runs300.list_runs(100, filters=f)) == list(range(290, 0, -20))
    assert runs300.count_runs(f) == 15
    page1 = runs300.list_runs(4, filters=f)
    page2 = runs300.list_runs(4, filters=f, before=page1[-1]["cursor"])
    assert ids(page2) == [210, 190, 170, 150]


def test_model_filter_matches_any_hop(runs300: Store) -> None:
    f = RunFilter(model="sage", since=T0 + 20 * STEP_S, until=T0 + 30 * STEP_S)  # runs 20..29, sage = i % 3 == 2
    assert ids(runs300.list_runs(50, filters=f)) == [29, 26, 23, 20]
    assert runs300.count_runs(RunFilter(model="sim-sage")) == 100  # the provider's model id works too


def test_date_range_and_min_cost(runs300: Store) -> None:
    f = RunFilter(since=T0 + 100 * STEP_S, until=T0 + 110 * STEP_S)
    assert ids(runs300.list_runs(50, filters=f)) == list(range(109, 99, -1))
    rich = RunFilter(min_cost=0.0097)  # i % 100 >= 97
    assert ids(runs300.list_runs(50, filters=rich)) == [299, 298, 297, 199, 198, 197, 99, 98, 97]
    assert runs300.count_runs(rich) == 9


def test_text_search_pages_and_filters(runs300: Store) -> None:
    assert ids(runs300.list_runs(10, filters=RunFilter(text="n123"))) == [123]
    prefix = RunFilter(text="n12*")  # n12 and n120..n129
    assert ids(runs300.list_runs(50, filters=prefix)) == [129, 128, 127, 126, 125, 124, 123, 122, 121, 120, 12]
    assert runs300.count_runs(prefix) == 11
    first = runs300.list_runs(4, filters=prefix)
    assert ids(runs300.list_runs(4, filters=prefix, before=first[-1]["cursor"])) == [125, 124, 123, 122]
    assert ids(runs300.list_runs(4, filters=prefix, from_end=True)) == [122, 121, 120, 12]
    # as you type: the last word is a prefix
    typing = RunFilter(text="n29")
    assert runs300.count_runs(typing) == 1
    assert runs300.count_runs(typing, prefix_last=True) == 11  # n29, n290..n299
    both = RunFilter(text="n29", status="error")
    assert ids(runs300.list_runs(10, filters=both, prefix_last=True)) == [290]


def test_punctuation_in_search_text_is_literal(runs300: Store) -> None:
    assert runs300.list_runs(5, filters=RunFilter(text='n1" OR "n2 NEAR(')) == []


def test_a_populated_v7_database_migrates_to_8_with_its_runs(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = open_connection(db_path, stop_before=8)
    old = Store(db_path, conn)
    assert old.schema_version() == 7
    fill(old, 40)
    before = conn.execute("SELECT * FROM runs ORDER BY rowid").fetchall()
    old.close()
    with open_store(db_path) as store:
        assert store.schema_version() == migrations.latest_version() >= 8
        indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"idx_runs_started_ts_id", "idx_runs_route_started_ts_id", "idx_runs_status_started_ts_id"} <= indexes
        assert store.conn.execute("SELECT * FROM runs ORDER BY rowid").fetchall() == before
        assert ids(store.list_runs(3, filters=RunFilter(status="error"))) == [30, 20, 10]
        plan = store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE (started_ts, id) < (?, ?)"
            " ORDER BY started_ts DESC, id DESC LIMIT 5",
            (T0, "x"),
        ).fetchall()
        assert "idx_runs_started_ts_id" in str(plan) and "TEMP B-TREE" not in str(plan)


def test_a_damaged_file_is_a_store_error_not_a_traceback(runs300: Store) -> None:
    runs300.conn.execute("DROP TABLE runs_fts")
    with pytest.raises(StoreError, match="listing runs"):
        runs300.list_runs(5, filters=RunFilter(text="refund"))
    assert isinstance(runs300.conn, sqlite3.Connection)
