"""The profile editor behind the composer and `workbench profile set/add-target`: comments kept, edits validated
with `profile check`'s messages, undo/redo, on-disk changes detected, a backup kept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import ProfileError
from workbench.profiles.edit import ProfileEditor, parse_value

DEMO = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    dest = tmp_path / "demo.yaml"
    shutil.copy(DEMO, dest)
    return dest


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b), "the edit was expected to change lines in place"
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_reordering_a_fallback_chain_changes_one_line_and_keeps_every_comment(demo: Path) -> None:
    before = demo.read_text()
    editor = ProfileEditor.open(demo)
    editor.move("routes.default.steps.answer.targets", 1, 0)
    assert editor.modified
    assert changed_lines(before, editor.text) == [
        ("        targets: [swift, steady]", "        targets: [steady, swift]")
    ]
    assert [t.model for t in editor.current().profile.routes["default"].steps[0].targets] == ["steady", "swift"]
    editor.save()
    after = demo.read_text()
    assert [line for line in after.splitlines() if line.lstrip().startswith("#")] == [
        line for line in before.splitlines() if line.lstrip().startswith("#")
    ]
    assert (demo.parent / "demo.yaml.bak").read_text() == before


def test_an_invalid_edit_is_refused_with_the_check_message_and_changes_nothing(demo: Path) -> None:
    editor = ProfileEditor.open(demo)
    with pytest.raises(ProfileError) as err:
        editor.set("routes.budget.max_cost_usd", -1)
    assert "routes.budget.max_cost_usd" in str(err.value) and f"{demo}:" in str(err.value)
    assert not editor.modified and editor.text == demo.read_text()


def test_undo_and_redo_walk_the_edits(demo: Path) -> None:
    editor = ProfileEditor.open(demo)
    original = editor.text
    editor.set("sim.seed", 11)
    first = editor.text
    editor.add_target("default", "answer", "sage", at=1)
    assert editor.undo() and editor.text == first
    assert editor.undo() and editor.text == original
    assert not editor.undo()
    assert editor.redo() and editor.text == first
    assert "seed: 11" in editor.text


def test_a_file_changed_on_disk_is_not_overwritten(demo: Path) -> None:
    editor = ProfileEditor.open(demo)
    editor.set("sim.seed", 12)
    demo.write_text(demo.read_text().replace("seed: 7", "seed: 8"))
    with pytest.raises(ProfileError, match="changed on disk"):
        editor.save()
    assert "seed: 8" in demo.read_text()
    other = demo.with_name("copy.yaml")
    editor.save(other)  # save as
    assert "seed: 12" in other.read_text()
    editor.save(force=True)  # overwrite, when the user says so
    assert "seed: 12" in demo.read_text()


def test_steps_are_addressed_by_name_or_index(demo: Path) -> None:
    editor = ProfileEditor.open(demo)
    assert editor.resolve_path("routes.default.steps.answer.targets") == ("routes", "default", "steps", 0, "targets")
    with pytest.raises(ProfileError, match="no step named 'nope'"):
        editor.resolve_path("routes.default.steps.nope.targets")


def test_values_parse_as_yaml() -> None:
    assert parse_value("0.6") == 0.6
    assert parse_value("[a, b]") == ["a", "b"]
    assert parse_value("{max_attempts: 3}") == {"max_attempts": 3}
    assert parse_value("plain words") == "plain words"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=60)


def test_the_headless_twin_makes_the_same_file_as_the_editor(demo: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin.yaml"
    shutil.copy(demo, twin)
    editor = ProfileEditor.open(demo)
    editor.add_target("fallback", "answer", "swift", at=1)
    editor.set("routes.budget.steps.0.max_output_tokens", 150)
    editor.save()
    done = run_cli("profile", "add-target", str(twin), "fallback", "answer", "swift", "--at", "1")
    assert done.returncode == 0, done.stderr
    done = run_cli("profile", "set", str(twin), "routes.budget.steps.0.max_output_tokens", "150")
    assert done.returncode == 0, done.stderr
    assert twin.read_text() == demo.read_text()
    assert "targets: [outage, swift, steady]" in twin.read_text()


def test_the_headless_twin_refuses_a_bad_value_with_a_located_message(demo: Path) -> None:
    before = demo.read_text()
    done = run_cli("profile", "set", str(demo), "routes.default.steps.0.targets.0", "nope")
    assert done.returncode == 2
    assert "unknown model 'nope'" in done.stderr and "Traceback" not in done.stderr
    assert f"{demo}:" in done.stderr
    assert demo.read_text() == before


def test_renaming_a_route_keeps_its_place_its_comments_and_the_default(demo: Path) -> None:
    editor = ProfileEditor.open(demo)
    before = editor.text
    editor.rename_route("default", "everyday")
    profile = editor.current().profile
    assert list(profile.routes)[0] == "everyday" and "default" not in profile.routes
    assert profile.default_route == "everyday"
    changed = [(a, b) for a, b in zip(before.splitlines(), editor.text.splitlines(), strict=True) if a != b]
    assert changed == [("default_route: default", "default_route: everyday"), ("  default:", "  everyday:")]
    with pytest.raises(ProfileError, match="exists already"):
        editor.rename_route("everyday", "fallback")
