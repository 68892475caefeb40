"""Files that are not what a command expects: a full disk, endless devices, a FIFO nobody writes. Each gets a
clear message and a non-zero exit, promptly, with no traceback (real subprocesses; /dev/full, /dev/zero)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "profiles" / "demo.yaml"


def workbench(*args: str, stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=20,  # the defect read /dev/zero without end: a hang fails here
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("special") / "wb.db"
    proc = workbench("run", "--profile", str(DEMO), "--db", str(path), "hello")
    assert proc.returncode == 0, proc.stderr
    return path


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")


@needs_dev_full
def test_export_to_a_full_disk_says_so(db: Path) -> None:
    proc = workbench("sessions", "export", "-o", "/dev/full", "--db", str(db))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot write the export file /dev/full: No space left on device" in proc.stderr
    with open("/dev/full", "w") as full:
        proc = workbench("sessions", "export", "--db", str(db), stdout=full.fileno())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot write the export to standard output" in proc.stderr


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_profile_check_refuses_what_is_not_a_regular_file(special: str, tmp_path: Path) -> None:
    if special == "fifo":
        special = str(tmp_path / "profile.fifo")
        os.mkfifo(special)  # nobody writes to it: reading would block forever
    proc = workbench("profile", "check", special)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{special}:1:1: (file): is a" in proc.stderr and "not a regular file" in proc.stderr


def test_a_profile_over_5_mb_gets_a_clear_answer(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 600_000)
    proc = workbench("profile", "check", str(big))
    assert proc.returncode == 2 and "is too large (expected a profile under 5 MB)" in proc.stderr


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_import_refuses_what_is_not_a_regular_file(special: str, tmp_path: Path) -> None:
    if special == "fifo":
        special = str(tmp_path / "export.fifo")
        os.mkfifo(special)
    proc = workbench("sessions", "import", special, "--db", str(tmp_path / "x.db"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{special} is not a regular file" in proc.stderr
