"""`workbench profile set` as files meet it: two processes editing at once, symlinks, read-only files and folders,
a full disk, malformed paths. Each a clear one-line refusal (exit 2) or an edit that lands whole; never a
traceback, never an edit lost, never a backup truncated. Real processes and real files throughout.

Permission bits do not bind root, so the read-only folder case runs its child without the capabilities that let
root ignore them (as tests/store/test_store_conditions.py does). The full disk is a file-size limit
(RLIMIT_FSIZE) in the child: every write past it fails (EFBIG), as on a full disk, without mounting anything.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.profiles.load import load_profile

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "profiles" / "demo.yaml"


def _cli(*args: str, preexec_fn=None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        preexec_fn=preexec_fn,
    )


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    dest = tmp_path / "demo.yaml"
    shutil.copy(DEMO, dest)
    return dest


def _leftovers(folder: Path) -> list[str]:
    """Temp files an interrupted write would leave."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("path", "where"),
    [("routes..default", "between two dots"), ("routes.default.", "at the end"), (".routes", "at the start")],
)
def test_a_path_with_an_empty_segment_is_refused_naming_it(demo: Path, path: str, where: str) -> None:
    before = demo.read_bytes()
    done = _cli("profile", "set", str(demo), path, "1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{path}: is not a dotted path: an empty segment {where}" in done.stderr
    assert demo.read_bytes() == before and not demo.with_name("demo.yaml.bak").exists()


_WORKER = r"""
import sys
from workbench.cli import cli
from workbench.cli.output import run_cli
path, who, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(rounds):
    code = run_cli(cli, ["profile", "set", path, f"models.{who}{i}", f"{{provider: sim-openai, model: sim-{who}{i}}}"])
    if code:
        sys.exit(code)
"""


def test_two_processes_editing_different_keys_both_keep_every_edit(demo: Path) -> None:
    rounds = 15
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(demo), who, str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for who in ("a", "b")
    ]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert err.count("saved ") == rounds  # each edit said "saved"...
    models = load_profile(demo).profile.models
    expected = {f"{who}{i}" for who in "ab" for i in range(rounds)}
    assert expected <= set(models), sorted(expected - set(models))  # ...and each is in the file
    assert {models[name].model for name in expected} == {f"sim-{name}" for name in expected}
    assert _leftovers(demo.parent) == []


def test_a_symlinked_profile_is_edited_through_the_link(tmp_path: Path) -> None:
    real_dir, link_dir = tmp_path / "shared", tmp_path / "mine"
    real_dir.mkdir()
    link_dir.mkdir()
    real = real_dir / "team.yaml"
    shutil.copy(DEMO, real)
    before = real.read_text()
    link = link_dir / "demo.yaml"
    link.symlink_to(os.path.relpath(real, link_dir))
    done = _cli("profile", "set", str(link), "routes.default.max_cost_usd", "0.5")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.resolve() == real  # still a link, to the same file
    assert load_profile(real).profile.routes["default"].max_cost_usd == pytest.approx(0.5)
    assert (real_dir / "team.yaml.bak").read_text() == before  # the backup beside the real file
    assert f"previous version in {real_dir / 'team.yaml.bak'}" in done.stderr
    assert sorted(p.name for p in link_dir.iterdir()) == ["demo.yaml"]
    assert _leftovers(real_dir) == []


def test_a_read_only_profile_is_refused_not_rewritten(demo: Path) -> None:
    demo.chmod(0o444)
    before = demo.read_bytes()
    done = _cli("profile", "set", str(demo), "routes.default.max_cost_usd", "0.5")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{demo}:1:1: (file): is read-only (mode 0444)" in done.stderr and "chmod u+w" in done.stderr
    assert demo.read_bytes() == before and stat.S_IMODE(demo.stat().st_mode) == 0o444
    assert not demo.with_name("demo.yaml.bak").exists()


def _without_permission_override() -> None:
    """In the child, before exec: drop the capabilities that let root write where permissions say no."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_a_profile_in_a_read_only_folder_is_refused_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    demo = folder / "demo.yaml"
    shutil.copy(DEMO, demo)
    before = demo.read_bytes()
    folder.chmod(0o555)
    try:
        done = _cli(
            "profile",
            "set",
            str(demo),
            "routes.default.max_cost_usd",
            "0.5",
            preexec_fn=_without_permission_override if os.geteuid() == 0 else None,
        )
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{demo}:1:1: (file): cannot lock it for editing: permission denied" in done.stderr
    assert demo.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["demo.yaml"]


_FULL_DISK = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from workbench.cli import cli
from workbench.cli.output import run_cli
sys.exit(run_cli(cli, sys.argv[2:]))
"""


@pytest.mark.parametrize("fails", ["the backup", "the new version"])
def test_a_full_disk_keeps_the_file_and_its_previous_backup(demo: Path, fails: str) -> None:
    bak = demo.with_name("demo.yaml.bak")
    bak.write_text("# the previous backup, from an earlier edit\n")
    before = demo.read_bytes()
    long_text = "x" * 400  # the new version is longer than the old one
    # a limit below the old file's size fails the backup; between the sizes, the backup fits but the new file not
    limit = len(before) - 100 if fails == "the backup" else len(before) + 100
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(limit), "profile", "set", str(demo), "description", long_text],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{demo}:1:1: (file): cannot write: the disk is full" in done.stderr and "not saved" in done.stderr
    assert demo.read_bytes() == before
    expected_bak = "# the previous backup, from an earlier edit\n" if fails == "the backup" else before.decode()
    assert bak.read_text() == expected_bak  # never truncated: the old backup, or a whole new one
    assert _leftovers(demo.parent) == []


def test_upgrading_a_profile_on_a_full_disk_says_so_and_keeps_the_file(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    text = DEMO.read_text().replace("version: 2", "version: 1", 1)
    old.write_text(text)
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(len(text) - 100), "profile", "upgrade", str(old)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{old}:1:1: (file): cannot write: the disk is full" in done.stderr and "not upgraded" in done.stderr
    assert old.read_text() == text and _leftovers(tmp_path) == []
