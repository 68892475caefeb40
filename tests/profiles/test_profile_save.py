"""save_profile: sets values in the round-trip document, keeps comments and order, never writes an invalid file."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from workbench.accounting.prices import Price
from workbench.errors import ProfileError
from workbench.profiles import DELETE, load_profile, save_profile

DEMO = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"


@pytest.fixture()
def demo(tmp_path: Path) -> Path:
    path = tmp_path / "demo.yaml"
    shutil.copyfile(DEMO, path)
    return path


def line_no(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def test_update_changes_only_its_line_and_keeps_every_comment(demo: Path) -> None:
    before = demo.read_text(encoding="utf-8")
    loaded = load_profile(demo)
    text = save_profile(loaded, {("sim", "seed"): 11, ("routes", "budget", "max_cost_usd"): Decimal("0.002")})
    after = demo.read_text(encoding="utf-8")
    assert text == after
    old_lines, new_lines = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b]
    assert changed == [line_no(before, "seed: 7"), line_no(before, "max_cost_usd: 0.001")]
    # the end-of-line comment survives, at the column it had (ruamel keeps comment columns)
    assert new_lines[changed[0]].startswith("  seed: 11 ")
    assert new_lines[changed[0]].index("#") == old_lines[changed[0]].index("#")
    assert new_lines[changed[0]].endswith("# same seed, same answers and the same faults on every run\n")
    assert new_lines[changed[1]] == "    max_cost_usd: 0.002\n"
    reloaded = load_profile(demo).profile
    assert reloaded.sim.seed == 11 and reloaded.routes["budget"].max_cost_usd == Decimal("0.002")
    assert list(reloaded.routes) == list(loaded.profile.routes) and list(reloaded.models) == list(loaded.profile.models)


def test_new_mappings_are_created_and_lists_appended(demo: Path) -> None:
    before = demo.read_text(encoding="utf-8")
    save_profile(
        demo,
        {
            ("routes", "cheap", "description"): "swift only",
            ("routes", "cheap", "steps"): [{"name": "answer", "targets": ["swift"]}],
            ("models", "steady", "prices", 1): Price(effective="2027-01-01", input=Decimal("0.5"), output=Decimal("2")),
            ("providers", "sim-openai", "headers", "x-team"): "workbench",
        },
    )
    after = demo.read_text(encoding="utf-8")
    profile = load_profile(demo).profile
    assert list(profile.routes)[-1] == "cheap" and [t.model for t in profile.routes["cheap"].steps[0].targets] == [
        "swift"
    ]
    assert [p.effective.year for p in profile.models["steady"].prices] == [2026, 2027]
    assert profile.models["steady"].prices[1].input == Decimal("0.5")
    assert profile.providers["sim-openai"].headers == {"x-team": "workbench"}
    assert "targets: [swift]" in after  # short lists stay in flow style, as hand-written
    # every line of the original is still there, in the same order (additions only)
    remaining = iter(after.splitlines())
    assert all(any(line == other for other in remaining) for line in before.splitlines())


def test_delete_keeps_the_blank_line_below(demo: Path) -> None:
    before = demo.read_text(encoding="utf-8")
    after = save_profile(demo, {("routes", "frontier", "steps", 0, "temperature"): DELETE})
    assert "temperature: 0.3" not in after
    expected = before.replace("        temperature: 0.3\n", "")
    assert after == expected
    assert load_profile(demo).profile.routes["frontier"].steps[0].temperature is None


def test_invalid_update_is_refused_and_the_file_is_untouched(demo: Path) -> None:
    before = demo.read_bytes()
    mtime = demo.stat().st_mtime_ns
    with pytest.raises(ProfileError) as info:
        save_profile(demo, {("routes", "default", "steps", 0, "targets", 0): "nope", ("sim", "seed"): 9})
    assert info.value.problems[0].startswith(f"{demo}:")
    assert "routes.default.steps.0.targets.0: unknown model 'nope'" in info.value.problems[0]
    assert info.value.hint == f"not saved: {demo} is unchanged"
    assert demo.read_bytes() == before and demo.stat().st_mtime_ns == mtime
    assert [p.name for p in demo.parent.iterdir()] == ["demo.yaml"]  # no temp file left behind


def test_update_with_a_wrong_type_is_refused(demo: Path) -> None:
    before = demo.read_bytes()
    with pytest.raises(ProfileError) as info:
        save_profile(demo, {("models", "swift", "sim", "ttft_ms"): "fast"})
    assert info.value.problems[0].endswith("models.swift.sim.ttft_ms: expected a number, got 'fast'")
    assert demo.read_bytes() == before


def test_a_path_that_does_not_fit_is_refused(demo: Path) -> None:
    before = demo.read_bytes()
    text = before.decode()
    steps_line = text.splitlines().index("    steps:", text.splitlines().index("  default:")) + 1
    with pytest.raises(ProfileError) as info:
        save_profile(demo, {("routes", "default", "steps", 5, "name"): "x"})
    assert info.value.problems == [
        f"{demo}:{steps_line}:5: routes.default.steps.5: cannot set this: its parent is a list (expected an index "
        "from 0 to 1)"
    ]
    with pytest.raises(ProfileError) as info:
        save_profile(demo, {("name", "first"): "x"})
    name_line = text.splitlines().index("name: demo") + 1
    assert info.value.problems == [
        f"{demo}:{name_line}:1: name.first: cannot set this: its parent is the value 'demo' (expected a key)"
    ]
    assert demo.read_bytes() == before


def test_a_file_changed_since_loading_is_not_overwritten(demo: Path) -> None:
    loaded = load_profile(demo)
    demo.write_text(loaded.text.replace("name: demo", "name: edited elsewhere"), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        save_profile(loaded, {("sim", "seed"): 3})
    assert info.value.problems == [
        f"{demo}:1:1: (file): changed on disk since it was loaded (expected the version that was loaded; "
        "load it again and repeat the change)"
    ]
    assert "name: edited elsewhere" in demo.read_text(encoding="utf-8")


def test_dest_writes_a_copy_and_keeps_the_file_mode(demo: Path, tmp_path: Path) -> None:
    os.chmod(demo, 0o640)
    save_profile(demo, {("name",): "renamed"})
    assert demo.stat().st_mode & 0o777 == 0o640
    copy = tmp_path / "sub" / "copy.yaml"
    text = save_profile(load_profile(demo), {("name",): "copy"}, dest=copy)
    assert copy.read_text(encoding="utf-8") == text
    assert load_profile(copy).profile.name == "copy" and load_profile(demo).profile.name == "renamed"


def test_crlf_files_stay_crlf(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(DEMO.read_bytes().replace(b"\n", b"\r\n"))
    save_profile(path, {("sim", "seed"): 8})
    data = path.read_bytes()
    assert b"seed: 8" in data and data.count(b"\r\n") == data.count(b"\n")


FLUSH_STYLE = """\
# lists flush with their parent key (ruamel's own default); DEMO indents them by two
providers:
    local: {kind: sim}
models:
    fast:
        provider: local
        model: m
        prices:
        - input: 1
          output: 2
routes:
    default:
        steps:
        - name: answer
          targets:
          - fast
"""


def test_the_files_own_indentation_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "flush.yaml"
    path.write_text(FLUSH_STYLE, encoding="utf-8")
    assert save_profile(path, {}) == FLUSH_STYLE
    after = save_profile(path, {("models", "fast", "max_output_tokens"): 100})
    added = "          output: 2\n        max_output_tokens: 100\n"
    assert after == FLUSH_STYLE.replace("          output: 2\n", added)
