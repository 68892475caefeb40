"""Format versions: a v1 file loads as v2 with a note, and `workbench profile upgrade` rewrites it as v2 keeping
every comment and the key order line for line; every shipped profile is already v2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.profiles import load_profile, loads_profile
from workbench.profiles.upgrade import upgrade_text

ROOT = Path(__file__).resolve().parents[2]

V1 = """\
# A hand-written v1 profile.
# Its comments must survive the upgrade.

version: 1   # the old format
name: old  # trailing comment on name
providers:
  local:  # the simulator
    kind: sim
models:
  fast:
    provider: local
    model: m-fast
    free: true  # the simulator costs nothing
    # a comment between keys
    context_window: 8000
routes:
  default:
    max_cost_usd: 0.5   # a cap
    steps:
      - name: answer   # the only step
        system: Be brief.
        targets: [fast]
"""


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_v1_loads_in_memory_with_a_note() -> None:
    loaded = loads_profile(V1, "old.yaml")
    assert loaded.profile.version == 1
    assert loaded.notes == ("old.yaml: version 1 profile read as v2; `workbench profile upgrade old.yaml` rewrites it",)
    step = loaded.profile.routes["default"].steps[0]
    assert [t.model for t in step.targets] == ["fast"]


def test_upgrade_keeps_comments_line_by_line_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(V1, encoding="utf-8")
    check = run_cli("profile", "check", "old.yaml", cwd=tmp_path)
    assert check.returncode == 0
    assert "note: old.yaml: version 1 profile read as v2; `workbench profile upgrade old.yaml` rewrites it" in (
        check.stderr
    )

    result = run_cli("profile", "upgrade", "old.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("upgraded: old.yaml is now a version 2 profile")
    before, after = V1.splitlines(), path.read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed == [("version: 1   # the old format", "version: 2   # the old format")]
    upgraded = load_profile(path)
    assert upgraded.profile.version == 2 and upgraded.notes == ()

    again = run_cli("profile", "upgrade", "old.yaml", cwd=tmp_path)
    assert again.returncode == 0 and "already a version 2 profile" in again.stdout
    clean = run_cli("profile", "check", "old.yaml", cwd=tmp_path)
    assert clean.returncode == 0 and clean.stderr == ""


def test_upgrade_adds_a_missing_version_after_the_header_comment() -> None:
    text = V1.replace("version: 1   # the old format\n", "")
    out = upgrade_text(text, "x.yaml").splitlines()
    assert out[:5] == [
        "# A hand-written v1 profile.",
        "# Its comments must survive the upgrade.",
        "",
        "version: 2",
        "name: old  # trailing comment on name",
    ]
    assert out[4:] == text.splitlines()[3:]


def test_upgrade_of_a_broken_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    broken = V1.replace("targets: [fast]", "targets: [fsat]")
    path.write_text(broken, encoding="utf-8")
    result = run_cli("profile", "upgrade", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown model 'fsat'" in result.stderr
    assert path.read_text(encoding="utf-8") == broken


@pytest.mark.parametrize("name", ["anthropic", "gemini", "local-openai-compatible", "openai"])
def test_shipped_profiles_are_v2_and_check_clean(name: str) -> None:
    loaded = load_profile(ROOT / "profiles" / f"{name}.yaml")
    assert loaded.profile.version == 2
    assert loaded.notes == () and loaded.warnings == ()
