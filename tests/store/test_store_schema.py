"""The schema and its migrations: fresh files, old files upgraded with their data, newer files refused untouched."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest
import sqlite_utils
from invariants import check_invariants
from store_events import PROFILE_HASH, PROFILE_TEXT, run_events, varied_runs

from workbench.errors import StoreError
from workbench.store import migrations, open_store, resolve_db_path, save_events
from workbench.store.records import TABLE_COLUMNS
from workbench.store.store import open_connection


def test_fresh_database_has_every_table_column_index_and_fts(db_path: Path) -> None:
    with open_store(db_path) as store:
        db = store.db
        for table, columns in TABLE_COLUMNS.items():
            assert tuple(db[table].columns_dict) == columns, table
        assert db["runs"].pks == ["id"]
        assert db["hops"].pks == ["run_id", "hop_id"]
        assert db["runs"].detect_fts() == "runs_fts"
        assert {t.name for t in db["runs"].triggers} >= {"runs_ai", "runs_ad", "runs_au"}
        indexed = {tuple(i.columns) for i in db["runs"].indexes}
        assert ("started_ts",) in indexed and ("session", "started_ts") in indexed
        assert ("kind", "model", "latency_ms") in {tuple(i.columns) for i in db["hops"].indexes}
        fks = {(fk.column, fk.other_table) for fk in db["hops"].foreign_keys}
        assert ("run_id", "runs") in fks
        assert [r["name"] for r in db["migrations"].rows] == [m.name for m in migrations.MIGRATIONS]
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == migrations.latest_version()
        assert store.schema_version() == migrations.latest_version()


def test_database_file_and_companions_are_private(db_path: Path) -> None:
    with open_store(db_path) as store:
        save_events(store, run_events())
        for suffix in ("", "-wal", "-shm"):
            mode = stat.S_IMODE(os.stat(f"{db_path}{suffix}").st_mode)
            assert mode == 0o600, (suffix, oct(mode))


def test_default_path_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)  # not a checkout of the project: the platform's data directory
    expected = tmp_path / "xdg" / "workbench" / "workbench.db"
    assert resolve_db_path() == expected
    with open_store() as store:
        assert store.path == expected
    assert expected.is_file() and not (tmp_path / "sessions").exists()
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "env.db"))
    assert resolve_db_path() == tmp_path / "env.db"
    assert resolve_db_path(tmp_path / "flag.db") == tmp_path / "flag.db"  # --db beats the environment


def test_migrations_are_recorded_once_and_reopening_changes_nothing(db_path: Path) -> None:
    open_store(db_path).close()
    with open_store(db_path) as store:
        rows = list(store.db["migrations"].rows)
        assert len(rows) == len(migrations.MIGRATIONS)
        assert migrations.pending(store.db) == []
        assert migrations.migrate(store.db) == []


def test_an_older_database_opens_in_this_version_with_its_data(db_path: Path) -> None:
    # Build the oldest schema (core tables only), put a run in it the way that version would have, then open.
    db_path.parent.mkdir(parents=True)
    conn = open_connection(db_path, stop_before=2)
    db = sqlite_utils.Database(conn)
    assert set(db.table_names()) == {"migrations", "profiles", "sessions", "runs", "hops"}
    assert not db["runs"].detect_fts()
    from workbench.store.writer import assemble

    (record,), _ = assemble(run_events(run_id="old-run", prompt="an invoice from the old days"), "old")
    run_cols, hop_cols = set(db["runs"].columns_dict), set(db["hops"].columns_dict)
    with conn:
        db["sessions"].insert({"name": "old", "created_ts": 1.0})
        db["runs"].insert({k: v for k, v in record.run.items() if k in run_cols})
        db["hops"].insert_all([{k: v for k, v in h.items() if k in hop_cols} for h in record.hops])
    conn.close()

    with open_store(db_path) as store:
        assert store.schema_version() == migrations.latest_version()
        assert [r["id"] for r in store.search("invoice")] == ["old-run"]  # FTS built over existing rows
        detail = store.get_run("old-run")
        assert detail.run["prompt"] == "an invoice from the old days" and len(detail.hops) == len(record.hops)
        save_events(store, run_events(run_id="new-run"))
    assert check_invariants(db_path) == 2


def test_a_database_from_a_newer_version_is_refused_and_left_untouched(db_path: Path) -> None:
    with open_store(db_path) as store:
        save_events(store, run_events(), profiles=[(PROFILE_HASH, PROFILE_TEXT, None)])
        store.conn.execute("INSERT INTO migrations (id, name, applied_at) VALUES (99, 'from_the_future', 'x')")
        store.conn.commit()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    listing = sorted(p.name for p in db_path.parent.iterdir())
    for attempt in (lambda: open_store(db_path), lambda: open_store(db_path, create=False)):
        with pytest.raises(StoreError) as info:
            attempt()
        assert str(db_path) in info.value.message and "newer version" in info.value.message
        assert "upgrade" in (info.value.hint or "")
    from workbench.store import EventWriter

    with pytest.raises(StoreError, match="newer version"):
        EventWriter(db_path)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == listing


def test_many_runs_keep_their_invariants(db_path: Path) -> None:
    with open_store(db_path) as store:
        ids = save_events(store, [e for r in varied_runs(40) for e in r])
    assert len(ids) == 40
    assert check_invariants(db_path) == 40
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("INSERT INTO runs_fts(runs_fts) VALUES('integrity-check')") is not None


def test_upgrading_backfills_the_conversation_of_old_runs(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = open_connection(db_path, stop_before=2)
    db = sqlite_utils.Database(conn)
    from workbench.store.writer import assemble

    records, _ = assemble([e for r in varied_runs(4) for e in r], "old")
    run_cols, hop_cols = set(db["runs"].columns_dict), set(db["hops"].columns_dict)
    with conn:
        for record in records:
            db["runs"].insert({k: v for k, v in record.run.items() if k in run_cols})
            db["hops"].insert_all([{k: v for k, v in h.items() if k in hop_cols} for h in record.hops])
    conn.close()
    with open_store(db_path) as store:
        for record in records:
            got = [
                {k: m[k] for k in ("seq", "role", "content", "hop_id")} for m in store.get_run(record.run_id).messages
            ]
            assert got == [{k: m[k] for k in ("seq", "role", "content", "hop_id")} for m in record.messages]
