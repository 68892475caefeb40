"""Command-line arguments that are not UTF-8 are refused before any command starts (exit 2, naming the argument),
as a prompt on stdin that is not UTF-8 is; and text that cannot be UTF-8 never costs a run, a traceback, an
empty rescue file or a whole import. Real subprocesses given raw bytes as arguments, real SQLite files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "store"))

from store_events import PROFILE_HASH, PROFILE_TEXT, run_events  # noqa: E402

from workbench.store import open_store, save_events  # noqa: E402
from workbench.store.records import RunAssembler  # noqa: E402
from workbench.store.transfer import write_rescue_file  # noqa: E402


def _workbench(*args: bytes, cwd: Path, db: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "WORKBENCH_DB": str(db), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], capture_output=True, timeout=60, cwd=ROOT, env=env
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (
            [b"run", b"bad \xff\xfe bytes"],
            "argument 2 is not UTF-8 text: byte 0xff at position 4 of 'bad \\xff\\xfe bytes'",
        ),
        ([b"run", b"--meta", b"k=\xff", b"hello"], "the value of --meta is not UTF-8 text: byte 0xff at position 2"),
        ([b"run", b"--meta=k=\xff", b"hello"], "the value of --meta is not UTF-8 text: byte 0xff at position 2"),
        ([b"run", b"--session", b"s\xe9", b"hello"], "the value of --session is not UTF-8 text: byte 0xe9"),
        ([b"run", b"--json", b"\xffhello"], "argument 3 is not UTF-8 text: byte 0xff at position 0"),
        ([b"sessions", b"search", b"caf\xe9"], "argument 3 is not UTF-8 text: byte 0xe9 at position 3"),
        ([b"sessions", b"show", b"\xc3"], "argument 3 is not UTF-8 text: byte 0xc3"),
        ([b"--session", b"\xff"], "the value of --session is not UTF-8 text"),
    ],
)
def test_an_argument_that_is_not_utf8_exits_2_naming_it_and_spends_nothing(
    args: list[bytes], named: str, tmp_path: Path
) -> None:
    db = tmp_path / "wb.db"
    proc = _workbench(*args, cwd=tmp_path, db=db)
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "argument is not UTF-8" in err
    assert named in " ".join(err.split())
    assert proc.stdout == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no .unsaved file
    assert not list(ROOT.glob("*.unsaved-*"))


def test_the_same_text_in_utf8_is_accepted(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    proc = _workbench(
        b"run",
        b"--meta",
        "k=\u00e9".encode(),
        b"--session",
        "s\u00e9".encode(),
        "caf\u00e9".encode(),
        cwd=tmp_path,
        db=db,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT session, prompt, metadata FROM runs").fetchall() == [
            ("s\u00e9", "caf\u00e9", '{"k":"\u00e9"}')
        ]


def _record(prompt: str):  # type: ignore[no-untyped-def]
    events = run_events(prompt=prompt)
    asm = RunAssembler(events[0], "default")  # type: ignore[arg-type]
    for event in events[1:-1]:
        asm.add(event)
    return asm.finish(events[-1])  # type: ignore[arg-type]


def test_a_rescue_file_holding_text_that_cannot_be_utf8_is_written_whole_and_imports_the_rest(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wb.db"
    good, bad = _record("a fine prompt"), _record("bad \udcff\udcfe bytes")
    rescue = write_rescue_file(db, [good, bad], [(PROFILE_HASH, PROFILE_TEXT, None, 1.0)])
    lines = rescue.read_text(encoding="utf-8").splitlines()  # the whole file is UTF-8, every line JSON
    assert [json.loads(line).get("table") for line in lines][-1] is None and len(lines) > 6
    fresh = tmp_path / "fresh.db"
    proc = _workbench(b"sessions", b"import", bytes(rescue), cwd=tmp_path, db=fresh)
    out, err = proc.stdout.decode(), " ".join(proc.stderr.decode().split())
    assert proc.returncode == 1 and "Traceback" not in err
    assert "imported 1 run(s)" in out
    assert f"run {bad.run_id}: prompt is not UTF-8 text (a lone surrogate \\udcff at position 4)" in err
    with sqlite3.connect(fresh) as conn:
        assert conn.execute("SELECT id FROM runs").fetchall() == [(good.run_id,)]


_FULL_DISK_CHILD = r"""
import resource, signal, sys
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from test_argv_utf8 import _record
from workbench.store.transfer import write_rescue_file
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
try:
    write_rescue_file(Path(sys.argv[1]), [_record("x" * 5000)], [])
except OSError as exc:
    print("refused", exc.errno)
"""


def test_a_rescue_file_that_cannot_be_written_whole_is_not_left_behind(tmp_path: Path) -> None:
    folders = {name: tmp_path / name for name in ("db", "cwd", "tmp")}
    for folder in folders.values():
        folder.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_CHILD, str(folders["db"] / "wb.db"), "2000", str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folders["cwd"],
        env={**os.environ, "TMPDIR": str(folders["tmp"]), "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout.split() == ["refused", "27"], proc.stderr  # EFBIG from every folder tried
    assert [list(folder.iterdir()) for folder in folders.values()] == [[], [], []]


def test_an_export_with_a_lone_surrogate_imports_every_other_run(tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    runs = [run_events(prompt=f"prompt number {i}") for i in range(4)]
    with open_store(source) as store:
        save_events(store, [e for r in runs for e in r], profiles=[(PROFILE_HASH, PROFILE_TEXT, None)])
    export = tmp_path / "all.json"
    proc = _workbench(b"sessions", b"export", b"--format", b"json", b"-o", bytes(export), cwd=tmp_path, db=source)
    assert proc.returncode == 0, proc.stderr
    text = export.read_text(encoding="utf-8")
    victim = runs[1][0].run_id
    assert text.count('"prompt number 1"') == 2  # the run's prompt, then its first message
    text = text.replace('"prompt number 1"', '"prompt \\ud800 number 1"', 1)
    bad_id = runs[2][0].run_id
    text = text.replace(f'"{bad_id}', f'"{bad_id}\\udcff')  # the run's id, in its own row and in its rows'
    export.write_text(text, encoding="utf-8")
    fresh = tmp_path / "fresh.db"
    proc = _workbench(b"sessions", b"import", bytes(export), cwd=tmp_path, db=fresh)
    out, err = proc.stdout.decode(), " ".join(proc.stderr.decode().split())
    assert proc.returncode == 1 and "Traceback" not in err
    assert "imported 2 run(s)" in out
    assert f"run {victim}: prompt is not UTF-8 text (a lone surrogate \\ud800 at position 7); not imported" in err
    assert f"run {bad_id}\\udcff: id is not UTF-8 text (a lone surrogate \\udcff at position {len(bad_id)})" in err
    assert "rejected 2 item(s)" in err  # and no orphans: the rows of the run with the bad id went with it
    with sqlite3.connect(fresh) as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM runs")}
    assert ids == {r[0].run_id for r in runs} - {victim, bad_id}
