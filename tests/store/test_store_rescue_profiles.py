"""A run kept aside in a `.unsaved` rescue file (the database filled up, or stayed locked, after the run's profile
had been saved) carries its profile row, so the file imports into another database whole. Real processes: the
full disk is a file-size limit (RLIMIT_FSIZE) set in the writing child after its profile was committed."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_events import PROFILE_HASH, PROFILE_TEXT, run_events

from workbench.cli import cli
from workbench.cli.output import run_cli
from workbench.errors import StoreError
from workbench.store import EventWriter, open_store

HERE = Path(__file__).parent
ROOT = HERE.parents[1]

_CHILD = r"""
import json, resource, signal, sys
sys.path.insert(0, sys.argv[2])
from store_events import PROFILE_HASH, PROFILE_TEXT, run_events
from workbench.errors import StoreError
from workbench.store import EventWriter

db = sys.argv[1]
writer = EventWriter(db, busy_timeout=0.2, retry_interval=0.05)
# a large profile first, then the run's own: both committed while the disk still has room
writer.register_profile("f" * 64, "# filler\n" * 8000, "big.yaml")
writer.register_profile(PROFILE_HASH, PROFILE_TEXT, "profiles/store-test.yaml")
assert writer.flush(10) and writer.saved == 0 and not writer.errors
wal = __import__("os").path.getsize(db + "-wal")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (wal + 64, resource.RLIM_INFINITY))  # the WAL cannot grow a frame
events = run_events()
for event in events:
    writer.submit(event)
try:
    writer.close(timeout=0.5)
except StoreError as err:
    print(json.dumps({"rescue": str(writer.rescue_file), "run": events[0].run_id, "error": err.message}))
else:
    print(json.dumps({"saved": writer.saved}))
"""


def _import(rescue: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_cli(cli, ["sessions", "import", str(rescue), "--db", str(db)])
    out, err = capsys.readouterr()
    return code, out, err


def _profiles(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT sha256, text FROM profiles").fetchall()


def test_a_run_rescued_on_a_full_disk_imports_into_another_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "full" / "wb.db"
    db.parent.mkdir()
    open_store(db).close()  # the schema, made while there is room
    keep_open = sqlite3.connect(db)  # holds the WAL and its index open, as a TUI beside the CLI would
    keep_open.execute("SELECT count(*) FROM runs").fetchone()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(db), str(HERE)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        keep_open.close()
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert "full" in got["error"], got  # the disk filled: the run went to the rescue file
    rescue = Path(got["rescue"])
    assert rescue.parent == db.parent and rescue.stat().st_size > 0

    other = tmp_path / "other.db"
    code, out, err = _import(rescue, other, capsys)
    assert code == 0, err
    assert "imported 1 run(s)" in out
    assert _profiles(other) == [(PROFILE_HASH, PROFILE_TEXT)]  # the run's profile, not the unrelated filler
    with open_store(other) as store:
        assert store.get_run(got["run"]).run["profile_hash"] == PROFILE_HASH


def test_a_run_rescued_from_a_locked_database_imports_into_another_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "wb.db"
    writer = EventWriter(db, busy_timeout=0.1, retry_interval=0.05)
    writer.register_profile(PROFILE_HASH, PROFILE_TEXT, "profiles/store-test.yaml")
    assert writer.flush(10)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another process takes the write lock after the profile was committed
    try:
        events = run_events()
        for event in events:
            writer.submit(event)
        with pytest.raises(StoreError, match="kept in"):
            writer.close(timeout=0.4)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert writer.rescue_file is not None
    other = tmp_path / "other.db"
    code, out, err = _import(writer.rescue_file, other, capsys)
    assert code == 0 and "imported 1 run(s)" in out, err
    assert _profiles(other) == [(PROFILE_HASH, PROFILE_TEXT)]
