"""Bad conditions, with real files: locked, read-only directory or file, damaged, each a clear StoreError that names
the file and loses nothing already saved. (A database from a newer version: see test_store_schema.py.)

Permission bits do not bind root, so the read-only cases run in a child process; when the suite runs as root,
that child is started without the capabilities that let root ignore them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH),
so it meets the permissions exactly as any user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from invariants import check_invariants
from store_events import run_events, varied_runs

from workbench.cli import cli
from workbench.cli.output import run_cli
from workbench.errors import StoreError
from workbench.store import EventWriter, open_store, save_events

REPO = Path(__file__).resolve().parents[2]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(cli, list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- locked ---------------------------------------------------------------------------------------------------


@pytest.fixture
def locker(populated: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the write lock on the populated database."""
    conn = sqlite3.connect(populated, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def test_locked_database_commands_fail_clearly_and_lose_nothing(
    populated: Path, locker: sqlite3.Connection, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_DB_TIMEOUT", "0.2")
    with open_store(populated, busy_timeout=0.2) as store:
        run_id = store.list_runs(limit=1)[0]["id"]  # reading works while another process writes (WAL)
        with pytest.raises(StoreError) as info:
            store.delete_run(run_id)
    assert "locked" in info.value.message and str(populated) in info.value.message
    assert "another" in info.value.message and info.value.hint
    code, _, err = _cli(capsys, "sessions", "rm", run_id, "--db", str(populated))
    assert code == 2 and "locked" in err and "Traceback" not in err
    locker.execute("ROLLBACK")
    with open_store(populated) as store:
        assert store.get_run(run_id).run["id"] == run_id
    assert check_invariants(populated) == 24


def test_locked_fresh_database_cannot_be_set_up_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # an empty file, locked before any schema exists
    try:
        with pytest.raises(StoreError, match="locked"):
            EventWriter(db, busy_timeout=0.2)
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    EventWriter(db).close()  # and works once the lock is gone


def test_writer_locked_out_until_close_keeps_the_runs_aside_for_import(
    populated: Path, locker: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = EventWriter(populated, busy_timeout=0.1, retry_interval=0.05)
    runs = varied_runs(5)
    for run in runs:
        for event in run:
            writer.submit(event)
    with pytest.raises(StoreError) as info:
        writer.close(timeout=0.5)
    rescue = writer.rescue_file
    assert rescue is not None and rescue.parent == populated.parent and str(rescue) in info.value.message
    assert "sessions import" in (info.value.hint or "")
    assert stat.S_IMODE(rescue.stat().st_mode) == 0o600
    locker.execute("ROLLBACK")
    code, out, _ = _cli(capsys, "sessions", "import", str(rescue), "--db", str(populated))
    assert code == 0 and "imported 5 run(s)" in out
    assert check_invariants(populated) == 29


# -- damaged --------------------------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_bytes(b"these are my notes, not a database\n" * 200)
    before = _digest(bogus)
    for attempt in (lambda: open_store(bogus), lambda: EventWriter(bogus), lambda: open_store(bogus, create=False)):
        with pytest.raises(StoreError) as info:
            attempt()
        assert "damaged" in info.value.message and str(bogus) in info.value.message
        assert ".recover" in (info.value.hint or "")
    code, _, err = _cli(capsys, "sessions", "list", "--db", str(bogus))
    assert code == 2 and "damaged" in err and "Traceback" not in err
    assert _digest(bogus) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_a_malformed_database_is_reported_and_the_writer_keeps_its_runs(
    populated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(populated.read_bytes())  # checkpointed on close: the file alone is the database
    page = 4096
    for offset in range(page * 4, min(len(data), page * 40), page):
        data[offset : offset + 100] = b"\xff" * 100  # trash b-tree page headers, keep the header page
    populated.write_bytes(bytes(data))
    before = _digest(populated)
    code, _, err = _cli(capsys, "sessions", "list", "--db", str(populated))
    assert code == 2 and "damaged" in err and "malformed" in err
    try:
        writer = EventWriter(populated, busy_timeout=0.1, retry_interval=0.05)
    except StoreError as err_open:
        assert "damaged" in err_open.message  # refused at the door: fine, nothing was written
    else:
        for event in run_events():
            writer.submit(event)
        with pytest.raises(StoreError, match="kept in"):
            writer.close(timeout=0.3)
        assert any("damaged" in e.message for e in writer.errors)
        assert writer.rescue_file is not None and writer.rescue_file.exists()
    assert _digest(populated) == before


# -- read-only: run as an unprivileged user when we are root ----------------------------------------------------

_PROBE = r"""
import json, sys
from workbench.store import EventWriter, open_store
from workbench.errors import StoreError
db, action = sys.argv[1], sys.argv[2]
try:
    if action == "writer":
        EventWriter(db).close()
    elif action == "list":
        with open_store(db, create=False) as s:
            print(json.dumps({"ok": [r["id"] for r in s.list_runs(limit=100)]}))
            sys.exit(0)
    elif action == "rm":
        with open_store(db, create=False) as s:
            s.delete_run(s.list_runs(limit=1)[0]["id"])
    print(json.dumps({"ok": None}))
except StoreError as e:
    print(json.dumps({"error": e.message, "hint": e.hint}))
"""


def _without_permission_override() -> None:
    """In the child, before exec: drop the capabilities that let root write where permissions say no."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone from the exec'd process
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _probe(db: Path, action: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(db), action],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=_without_permission_override if os.geteuid() == 0 else None,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def shared_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for p in [tmp_path, *tmp_path.rglob("*")]:  # let pytest clean up
        p.chmod(0o700 if p.is_dir() else 0o600)


def test_read_only_directory_new_database_is_refused_clearly(shared_dir: Path) -> None:
    target = shared_dir / "locked-dir" / "wb.db"
    target.parent.mkdir()
    target.parent.chmod(0o555)
    got = _probe(target, "writer")
    assert "read-only" in got["error"] and str(target) in got["error"] and "--db" in got["hint"]
    assert not target.exists()


def test_read_only_directory_existing_database_reads_but_refuses_writes(shared_dir: Path) -> None:
    folder = shared_dir / "ro"
    folder.mkdir()
    db = folder / "wb.db"
    with open_store(db) as store:
        ids = save_events(store, [e for r in varied_runs(6) for e in r])
    db.chmod(0o600)  # the file is writable, the directory is not
    folder.chmod(0o555)
    before = _digest(db)
    got = _probe(db, "writer")
    assert "read-only" in got["error"] and str(folder) in got["error"]
    assert sorted(_probe(db, "list")["ok"]) == sorted(ids)  # everything saved is still readable
    assert "read-only" in _probe(db, "rm")["error"]
    assert _digest(db) == before and sorted(p.name for p in folder.iterdir()) == ["wb.db"]


def test_read_only_file_reads_but_refuses_writes(shared_dir: Path) -> None:
    folder = shared_dir / "rw"
    folder.mkdir()
    db = folder / "wb.db"
    with open_store(db) as store:
        ids = save_events(store, [e for r in varied_runs(4) for e in r])
    db.chmod(0o400)
    before = _digest(db)
    got = _probe(db, "writer")
    assert "read-only" in got["error"] and str(db) in got["error"] and "chmod" in got["hint"]
    assert sorted(_probe(db, "list")["ok"]) == sorted(ids)
    assert "read-only" in _probe(db, "rm")["error"]
    assert _digest(db) == before
