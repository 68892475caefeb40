"""Defaults that must not depend on the current directory alone: the session database and the default profile.

Expected paths are written out by hand from the rules in workbench/locations.py; the directories are real.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.locations import PACKAGED_DEMO, data_dir, default_db_path, default_profile_path, project_root
from workbench.store.db import resolve_db_path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = '[build-system]\nrequires = ["setuptools"]\n\n[project]\nname = "{name}"\nversion = "0.1.0"\n'


def make_checkout(where: Path, *, name: str = "workbench", sessions: bool = True) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "pyproject.toml").write_text(PYPROJECT.format(name=name), encoding="utf-8")
    if sessions:
        (where / "sessions").mkdir()
    return where


def test_the_packaged_demo_is_the_repository_demo() -> None:
    repo = (ROOT / "profiles" / "demo.yaml").read_bytes()
    assert PACKAGED_DEMO.read_bytes() == repo, (
        "workbench/data/demo.yaml differs from profiles/demo.yaml: run `make sync-demo` (it copies the latter over)"
    )


def test_this_repository_is_a_checkout_and_its_subdirectories_find_the_same_root() -> None:
    assert project_root(ROOT) == ROOT
    assert project_root(ROOT / "tests" / "engine") == ROOT
    assert default_db_path(cwd=ROOT / "tests") == ROOT / "sessions" / "workbench.db"
    assert default_profile_path(ROOT / "workbench") == ROOT / "profiles" / "demo.yaml"


def test_a_checkout_needs_both_the_workbench_pyproject_and_sessions(tmp_path: Path) -> None:
    other = make_checkout(tmp_path / "other", name="not-workbench")
    bare = make_checkout(tmp_path / "bare", sessions=False)
    real = make_checkout(tmp_path / "real")
    (real / "deep" / "er").mkdir(parents=True)
    assert project_root(other) is None
    assert project_root(bare) is None
    assert project_root(real / "deep" / "er") == real.resolve()
    broken = make_checkout(tmp_path / "broken")
    (broken / "pyproject.toml").write_text("[project\nname = ", encoding="utf-8")  # not TOML: not a checkout
    assert project_root(broken) is None


def test_data_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir({}) == tmp_path / "home" / ".local" / "share" / "workbench"
    assert data_dir({"XDG_DATA_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "workbench"
    # the XDG spec: a relative $XDG_DATA_HOME is invalid and ignored
    assert data_dir({"XDG_DATA_HOME": "relative/dir"}) == tmp_path / "home" / ".local" / "share" / "workbench"


def test_database_precedence_flag_then_env_then_checkout_then_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert resolve_db_path() == tmp_path / "xdg" / "workbench" / "workbench.db"
    checkout = make_checkout(tmp_path / "checkout")
    (checkout / "src").mkdir()
    monkeypatch.chdir(checkout / "src")
    assert resolve_db_path() == checkout.resolve() / "sessions" / "workbench.db"
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "env.db"))
    assert resolve_db_path() == tmp_path / "env.db"
    assert resolve_db_path(tmp_path / "flag.db") == tmp_path / "flag.db"


def test_default_profile_outside_a_checkout_is_the_packaged_demo(tmp_path: Path) -> None:
    assert default_profile_path(tmp_path) == PACKAGED_DEMO
    checkout = make_checkout(tmp_path / "checkout")
    assert default_profile_path(checkout) == PACKAGED_DEMO  # a checkout without profiles/demo.yaml
    (checkout / "profiles").mkdir()
    (checkout / "profiles" / "demo.yaml").write_text("name: mine\n", encoding="utf-8")
    assert default_profile_path(checkout) == checkout.resolve() / "profiles" / "demo.yaml"


def _workbench(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_run_works_from_any_directory_on_the_shipped_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DB"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    result = _workbench("run", "--json", "--no-save", "hi", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    import json

    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert first["type"] == "run_started" and first["profile"] == "demo"
    assert Path(first["profile_path"]) == PACKAGED_DEMO
    assert last["type"] == "run_finished" and last["status"] == "ok" and last["output"]
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "sessions").exists()  # --no-save wrote nothing

    # Saved: the database goes to the data directory (owner-only), never into the current directory.
    result = _workbench("run", "--json", "hi", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    db = tmp_path / "xdg" / "workbench" / "workbench.db"
    assert db.is_file() and stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xdg"]
    # Every connection was closed before the process ended: no -wal left, so the .db file alone holds the run.
    assert sorted(p.name for p in db.parent.iterdir()) == ["workbench.db"]
    import sqlite3

    with sqlite3.connect(db) as conn:
        run_id = json.loads(result.stdout.splitlines()[0])["run_id"]
        assert conn.execute("select status from runs where id = ?", (run_id,)).fetchall() == [("ok",)]
    listed = _workbench("sessions", "list", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(lines[0])["run_id"] not in listed.stdout  # the --no-save run is not there
    assert json.loads(result.stdout.splitlines()[0])["run_id"] in listed.stdout
