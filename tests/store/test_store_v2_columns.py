"""Migration 6 (event schema v2): a database at migration 5 with v1 rows migrates and keeps every row as it was
(new columns NULL); v2 runs save what their events carry — target index, role, Retry-After, gate results, hop and
decision data, request metadata, the session turn and the run's reason (a `degraded` run included)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import sqlite_utils
from invariants import check_invariants
from store_events import run_events

from workbench.engine.events import (
    Decision,
    DecisionAction,
    GateVerdict,
    HopFinished,
    HopKind,
    HopStarted,
    HopStatus,
    RunFinished,
    RunStarted,
    RunStatus,
)
from workbench.store import migrations, open_store, save_events
from workbench.store.store import open_connection

NEW_HOP_COLUMNS = ("target_index", "role", "retry_after_s", "check_name", "verdict", "score", "detail", "data")


def _dump(db: sqlite_utils.Database, table: str, order: str) -> list[dict]:
    return [dict(r) for r in db.query(f"SELECT * FROM {table} ORDER BY {order}")]


def test_a_migration_5_database_with_rows_migrates_and_keeps_them(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = open_connection(db_path, stop_before=6)
    old = sqlite_utils.Database(conn)
    assert max(migrations.applied(old)) == 5
    assert "target_index" not in old["hops"].columns_dict
    from workbench.store.writer import assemble

    records, _ = assemble(run_events(run_id="v1-run", steps=(("answer", (("swift", "error"), ("deep", "ok"))),)), "s")
    (record,) = records
    cols = {t: set(old[t].columns_dict) for t in ("runs", "hops", "messages", "decisions")}
    with conn:
        old["sessions"].insert({"name": "s", "created_ts": 1.0})
        old["runs"].insert({k: v for k, v in record.run.items() if k in cols["runs"]})
        old["hops"].insert_all([{k: v for k, v in h.items() if k in cols["hops"]} for h in record.hops])
        old["messages"].insert_all(record.messages)
        old["decisions"].insert_all([{k: v for k, v in d.items() if k in cols["decisions"]} for d in record.decisions])
    before = {t: _dump(old, t, "rowid") for t in ("runs", "hops", "messages", "decisions")}
    conn.close()

    with open_store(db_path) as store:
        assert store.schema_version() == migrations.latest_version() >= 6
        db = sqlite_utils.Database(store.conn)
        for table, rows in before.items():
            after = _dump(db, table, "rowid")
            assert [{k: r[k] for k in rows[0]} for r in after] == rows, table
        hops = _dump(db, "hops", "seq")
        assert all(h[c] is None for h in hops for c in NEW_HOP_COLUMNS)
        assert all(d["data"] is None for d in _dump(db, "decisions", "seq"))
        run = _dump(db, "runs", "id")[0]
        assert run["metadata"] is None and run["session_turn"] is None and run["reason"] is None
        detail = store.get_run("v1-run")
        assert [h["status"] for h in detail.hops] == [h["status"] for h in record.hops]
    assert check_invariants(db_path) == 1


def _v2_run(run_id: str) -> list:
    t = 1_790_000_000.0
    return [
        RunStarted(run_id=run_id, ts=t, route="r", prompt="q", metadata={"team": "qa"}, session_id="s1", turn=3),
        HopStarted(run_id=run_id, ts=t + 0.1, hop_id=f"{run_id}.1", kind=HopKind.GATE, name="check"),
        Decision(
            run_id=run_id,
            ts=t + 0.2,
            hop_id=f"{run_id}.1",
            action=DecisionAction.GATE,
            reason="gate failed: retry with feedback",
            data={"check": "length", "max_chars": 10},
        ),
        HopFinished(
            run_id=run_id,
            ts=t + 0.3,
            hop_id=f"{run_id}.1",
            kind=HopKind.GATE,
            name="check",
            status=HopStatus.ERROR,
            target_index=1,
            role="judge",
            retry_after_s=2.5,
            check="length",
            verdict=GateVerdict.FAIL,
            score=0.25,
            detail="42 characters, at most 10",
            data={"chars": 42},
        ),
        RunFinished(
            run_id=run_id,
            ts=t + 0.4,
            status=RunStatus.DEGRADED,
            output="best so far",
            latency_ms=400.0,
            cost_usd=Decimal(0),
            cost={"total": "0"},
            reason="latency budget spent",
        ),
    ]


def test_v2_events_fill_the_new_columns(db_path: Path) -> None:
    with open_store(db_path) as store:
        save_events(store, _v2_run("v2-run"))
        db = sqlite_utils.Database(store.conn)
        (hop,) = _dump(db, "hops", "seq")
        assert {c: hop[c] for c in NEW_HOP_COLUMNS} == {
            "target_index": 1,
            "role": "judge",
            "retry_after_s": 2.5,
            "check_name": "length",
            "verdict": "fail",
            "score": 0.25,
            "detail": "42 characters, at most 10",
            "data": '{"chars":42}',
        }
        (decision,) = _dump(db, "decisions", "seq")
        assert json.loads(decision["data"]) == {"check": "length", "max_chars": 10}
        (run,) = _dump(db, "runs", "id")
        assert (run["status"], run["reason"], run["session_turn"]) == ("degraded", "latency budget spent", 3)
        assert json.loads(run["metadata"]) == {"team": "qa"}


def test_sessions_show_prints_the_reason_and_the_gate_result(
    db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per note: the assertion reads it whole
    from workbench.cli import cli
    from workbench.cli.output import run_cli

    with open_store(db_path) as store:
        save_events(store, _v2_run("v2-shown"))
    assert run_cli(cli, ["sessions", "show", "v2-shown", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "degraded" in out and "latency budget spent" in out
    assert "length: fail (score 0.25) 42 characters, at most 10" in out
