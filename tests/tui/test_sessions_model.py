"""The session browser's view models without a screen: the filter syntax, the page cache's fetch plan, a stored run
as the waterfall's rows, and the re-run deltas. Expected values are written out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from workbench.store import RunFilter, open_store
from workbench.store.synthetic import T0, fill
from workbench.tui.sessions_model import RunPages, deltas, parse_query, recorded_state, recorded_totals


def test_the_filter_syntax_and_its_problems() -> None:
    parsed = parse_query(
        "refund pol route:support status:Error model:sage cost>0.002 since:2026-05-01 until:2026-05-31"
    )
    assert parsed.problems == []
    f = parsed.filters
    assert (f.text, f.route, f.status, f.model, f.min_cost) == ("refund pol", "support", "error", "sage", 0.002)
    assert f.since == dt.datetime(2026, 5, 1, tzinfo=dt.UTC).timestamp()
    assert f.until == dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()  # until a day: through its end
    assert parse_query("cost:$0.5 http:503").filters == RunFilter(text="http:503", min_cost=0.5)
    bad = parse_query("status:broken since:yesterday cost>lots route:")
    assert bad.problems == [
        "status:broken is not one of ok, error, degraded, cancelled",
        "since:yesterday is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)",
        "cost>lots: the cost must be a number of dollars, e.g. cost>0.001",
        "route: needs a value, e.g. route:…",
    ]
    assert parse_query("").filters.is_empty()


def row(i: int) -> dict:
    return {"id": f"r{i}", "cursor": (float(i), f"r{i}")}


def test_pages_are_fetched_by_key_from_a_neighbour_and_the_far_ones_dropped() -> None:
    pages = RunPages(page_size=10, max_pages=3)
    pages.reset(95, [row(i) for i in range(10)])
    assert pages.request(0) == {"limit": 10}
    assert pages.request(1) == {"limit": 10, "before": (9.0, "r9")}  # after page 0's last row
    assert pages.request(9) == {"limit": 5, "from_end": True}  # the last, partial page: the oldest 5
    assert pages.request(5) == {"limit": 10, "offset": 50}  # no neighbour: a jump
    pages.put(6, [row(i) for i in range(60, 70)], near=6)
    assert pages.request(5) == {"limit": 10, "after": (60.0, "r60")}  # the page above page 6
    pages.put(9, [row(i) for i in range(90, 95)], near=9)
    pages.put(8, [row(i) for i in range(80, 90)], near=9)  # four pages: page 0 is the farthest from 9
    assert not pages.has(0) and pages.has(6) and pages.has(8) and pages.has(9)
    assert pages.row(94)["id"] == "r94" and pages.row(5) is None and pages.held() == 25
    generation = pages.generation
    pages.reset(3, [row(0), row(1), row(2)])
    assert pages.generation == generation + 1 and pages.row(2)["id"] == "r2" and pages.last_page == 0


def test_a_stored_run_becomes_the_waterfall_rows_on_its_own_time_axis(tmp_path: Path) -> None:
    with open_store(tmp_path / "wb.db") as store:
        fill(store, 21)
        with store.transaction("adding a decision") as conn:
            conn.execute(
                "INSERT INTO decisions (run_id, seq, hop_id, action, reason, target, ts)"
                " VALUES ('run-00000020', 0, NULL, 'route', 'the only route', 'default', ?)",
                (T0 + 20 * 60 - 0.5,),
            )
        detail = store.get_run(
            "run-00000020"
        )  # error run: latency 200 + (20 % 37) * 25 = 700 ms, model MODELS[20 % 3] = sage
    state = recorded_state(detail)
    rows = state.ordered_rows()
    assert [(depth, r.kind, r.status) for depth, r in rows] == [
        (0, "decision", "route"),  # half a second before the run's start: clamped to 0 on the axis
        (0, "step", "error"),
        (1, "attempt", "error"),
    ]
    attempt = rows[2][1]
    assert attempt.label == "  sage" and attempt.attempt == 1 and attempt.detail == "HTTP 503 from the provider"
    assert abs(attempt.t_start - 0.001) < 1e-6 and abs(attempt.t_end - 0.7) < 1e-6 and attempt.t_first is None
    assert attempt.cost_usd == Decimal("0.002") and attempt.output_tokens == 60  # 40 + 20 % 200
    assert rows[1][1].cost_usd is None  # steps carry no spend of their own
    assert abs(state.now() - 0.7) < 1e-6
    assert state.live_tokens(attempt) == (40, 60, Decimal("0.002"), False)  # exactly as recorded, not estimated
    assert recorded_totals(detail.run)["status"] == "error"


def test_deltas_of_a_rerun() -> None:
    old = {"latency_ms": 800.0, "ttft_ms": None, "input_tokens": 10, "output_tokens": 90, "cost": Decimal("0.002"),
           "status": "ok"}  # fmt: skip
    new = {"latency_ms": 600.0, "ttft_ms": 50.0, "input_tokens": 10, "output_tokens": 100, "cost": Decimal("0.003"),
           "status": "error"}  # fmt: skip
    assert deltas(old, new) == [
        ("latency", "800 → 600 ms (-200, -25%)"),
        ("ttft", "– → 50 ms"),
        ("tokens", "100 → 110 (+10)"),
        ("cost", "$0.002 → $0.003 (+$0.001, +50%)"),
        ("status", "ok → error"),
    ]
