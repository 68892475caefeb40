"""The composer's forms, driven through Pilot: one change per form kind, and the file diff shows exactly that change
with every comment kept; invalid values show `profile check`'s message and block saving; clearing a field goes
back to the inherited value and says where it comes from; gates, providers and models added through forms."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_composer import FIXTURE, ComposerApp, comment_lines
from textual.widgets import Input, Static

from workbench.errors import ProfileError
from workbench.profiles.edit import ProfileEditor
from workbench.profiles.load import load_profile
from workbench.tui.composer import Composer, ConfirmDiff
from workbench.tui.composer.form import NodeForm

DEMO = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    dest = tmp_path / "demo.yaml"
    shutil.copy(FIXTURE, dest)
    return dest


def changes(before: str, after: str) -> list[str]:
    """The -/+ lines of a diff, in order."""
    out = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in out if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def field(screen: Composer, *path: Any) -> Any:
    form = screen.query_one("#form", NodeForm)
    if tuple(path) not in form.fields:  # a field of a policy block not opened yet
        assert form.reveal(tuple(path))
    return form.fields[tuple(path)]


async def enter(pilot: Any, screen: Composer, path: tuple[Any, ...], text: str) -> Any:
    """Type `text` into the field at `path` (validated as typed) and press Enter, or for a multi-line field
    leave it (applied)."""
    from workbench.tui.composer.form import FieldText

    widget = field(screen, *path)
    for _ in range(500):  # a field of a block just opened is mounted a moment later: wait for it to hold the focus
        widget.focus()
        await pilot.pause()
        if screen.focused is widget:
            break
    assert screen.focused is widget, f"{path} never took the focus"
    if isinstance(widget, FieldText):
        widget.load_text(text)
        await pilot.pause()
        screen.query_one("#tree").focus()
    else:
        widget.value = text
        await pilot.pause()
        await pilot.press("enter")
    await pilot.pause()
    return widget


def problem(screen: Composer) -> str:
    return str(screen.query_one("#problem", Static).render())


async def test_a_per_target_option_is_written_on_that_target_and_clearing_it_restores_the_bare_alias(
    profile_file: Path,
) -> None:
    before = profile_file.read_text()
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        weight = ("routes", "default", "steps", 0, "targets", 1, "weight")
        await enter(pilot, screen, weight, "2")
        assert changes(before, editor.text) == [
            "-        targets: [swift, steady]",
            "+        targets: [swift, {model: steady, weight: 2}]",
        ]
        assert comment_lines(editor.text) == comment_lines(before)
        # the form shows it written; clearing the field takes the key away again
        await enter(pilot, screen, weight, "")
        assert editor.text == before and not editor.modified
        assert field(screen, *weight).placeholder == "none · default"


async def test_a_policy_field_is_set_then_cleared_back_to_the_inherited_value_and_its_origin(
    profile_file: Path,
) -> None:
    before = profile_file.read_text()
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        step_attempts = ("routes", "default", "steps", 0, "retry", "max_attempts")
        assert field(screen, *step_attempts).placeholder == "2 · default"
        # the route's own form: the retry every step of the route inherits
        screen.select(("route", "default"))
        await pilot.pause()
        await enter(pilot, screen, ("routes", "default", "retry", "max_attempts"), "4")
        screen.select(("step", "default", (0,)))
        await pilot.pause()
        assert field(screen, *step_attempts).placeholder == "4 · from routes.default.retry.max_attempts"
        # the step overrides it: the file gains exactly these two lines, after the step's last key
        await enter(pilot, screen, step_attempts, "3")
        assert changes(before, editor.text) == [  # the step's block sits in its step, the route's after `steps`
            "+        retry:",
            "+          max_attempts: 3",
            "+    retry:",
            "+      max_attempts: 4",
        ]
        assert field(screen, *step_attempts).value == "3"
        # cleared: the key and the `retry:` it leaves empty go; the inherited value and its origin are shown
        await enter(pilot, screen, step_attempts, "")
        assert changes(before, editor.text) == ["+    retry:", "+      max_attempts: 4"]
        assert field(screen, *step_attempts).value == ""
        assert field(screen, *step_attempts).placeholder == "4 · from routes.default.retry.max_attempts"
        await pilot.press("ctrl+z", "ctrl+z", "ctrl+z")
        await pilot.pause()
        assert editor.text == before


async def test_an_invalid_value_shows_the_check_message_and_blocks_saving(profile_file: Path) -> None:
    before = profile_file.read_text()
    editor = ProfileEditor.open(profile_file)
    try:  # what `profile check` says about the same value, computed on a separate editor
        ProfileEditor.open(profile_file).set("routes.tiered.steps.0.strong_weak.threshold", 1.5)
    except ProfileError as err:
        expected = err.message
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        screen.select(("step", "tiered", (0,)))
        await pilot.pause()
        path = ("routes", "tiered", "steps", 0, "strong_weak", "threshold")
        widget = field(screen, *path)
        widget.focus()
        widget.value = "1.5"
        await pilot.pause()
        assert problem(screen) != expected  # not checked on the key itself: the check waits for a pause in typing
        await pilot.pause(0.3)
        assert problem(screen) == expected
        assert str(screen.query_one("#form", NodeForm).errors[path].render()) == expected
        await pilot.press("enter")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDiff)  # no diff offered: nothing can be saved
        assert problem(screen).startswith("not saved: fix routes.tiered.steps.0.strong_weak.threshold first")
        assert not editor.modified
        # a valid value is applied in place, and saving works again
        widget.value = "0.7"
        await pilot.press("enter")
        await pilot.pause()
        assert changes(before, editor.text) == [
            "-        strong_weak: {threshold: 0.5, strong: hard, weak: easy}",
            "+        strong_weak: {threshold: 0.7, strong: hard, weak: easy}",
        ]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDiff)


async def test_the_route_form_switches_mode_and_edits_the_rules_table(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        screen.select(("step", "tiered", (0,)))
        await pilot.pause()
        base = ("routes", "tiered", "steps", 0)
        await enter(pilot, screen, (*base, "@mode"), "rules")
        step = editor.current().profile.routes["tiered"].steps[0]
        assert step.mode == "rules" and step.strong_weak is None
        assert [(r.when.keywords, r.branch) for r in step.rules] == [(["help"], "hard")]
        await enter(pilot, screen, (*base, "rules", 0, "when", "keywords"), "[prove, derive]")
        await enter(pilot, screen, (*base, "default"), "hard")
        step = editor.current().profile.routes["tiered"].steps[0]
        assert step.rules[0].when.keywords == ["prove", "derive"] and step.default == "hard"
        assert "strong_weak" not in editor.text
        assert comment_lines(editor.text) == comment_lines(profile_file.read_text())


async def test_a_gate_added_by_form_is_tried_in_the_playground(profile_file: Path, tmp_path: Path) -> None:
    from tui_helpers import run_to_end

    from workbench.tui.app import make_app

    before = profile_file.read_text()
    app = make_app(load_profile(profile_file), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await pilot.press("ctrl+e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, Composer)
        screen.query_one("#tree").focus()
        await pilot.press("i")  # the kind picker
        await pilot.pause()
        await pilot.click("#pick")  # focus it, then choose `gate` with the keyboard
        await pilot.press("home", *["down"] * 3, "enter")
        await pilot.pause()
        assert screen.node == ("step", "default", (1,))
        gate = ("routes", "default", "steps", 1)
        await enter(pilot, screen, (*gate, "checks", 0, "min_chars"), "5")
        await enter(pilot, screen, (*gate, "on_fail"), "warn")
        assert changes(before, app.editor.text) == [
            "+      - name: gate",
            "+        kind: gate",
            "+        checks:",
            "+          - type: length",
            "+            min_chars: 5",
            "+        on_fail: warn",
        ]
        await pilot.press("escape", "escape")  # the form to the tree, the tree out of the composer
        await pilot.pause()
        assert await app.wait_for_engine()
        await run_to_end(pilot, "Is the gate there?", route="default")
        gates = [r for r in app.screen.state.rows.values() if r.kind == "gate"]
        assert gates and all(r.status == "ok" for r in gates)
        verdicts = [(e.check, e.verdict) for r in gates for e in r.events if getattr(e, "check", None)]
        assert verdicts and set(verdicts) == {("length", "pass")}
    assert profile_file.read_text() == before  # tried, not saved


async def test_checks_are_added_and_removed_with_the_form(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        assert screen.add_step("gate")
        await pilot.pause()
        form = screen.query_one("#form", NodeForm)
        add = next(r for r in form.rows if r.kind == "add" and r.path[-1] == "checks")
        screen.item_action("add", add)
        await pilot.pause()
        await pilot.click("#pick")
        await pilot.press("home", "down", "enter")  # the second type: contains
        await pilot.pause()
        checks = editor.current().profile.routes["default"].steps[1].checks
        assert [c.type for c in checks] == ["length", "contains"]
        field(screen, "routes", "default", "steps", 1, "checks", 1, "text").focus()
        await pilot.press("ctrl+r")  # removes the check of the focused field
        await pilot.pause()
        assert [c.type for c in editor.current().profile.routes["default"].steps[1].checks] == ["length"]


async def test_a_template_is_validated_with_the_load_time_message(profile_file: Path) -> None:
    from workbench.tui.composer.form import FieldText

    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        assert screen.add_step("transform")
        await pilot.pause()
        path = ("routes", "default", "steps", 1, "template")
        area = screen.query_one("#form", NodeForm).fields[path]
        assert isinstance(area, FieldText) and area.text == "{{ input }}"
        try:
            ProfileEditor.open(profile_file).set("routes.default.steps.0.system", "{{ nope }}")
        except ProfileError as err:
            expected_tail = err.message.split("system: ", 1)[1]
        area.focus()
        await pilot.pause()
        area.load_text("{{ nope }}")
        screen._field_typed(area.row, area.text)
        assert problem(screen).endswith(f"routes.default.steps.1.template: {expected_tail}")
        area.load_text("Answer briefly: {{ input }}")
        screen.query_one("#tree").focus()  # leaving the field applies it
        await pilot.pause()
        assert editor.current().profile.routes["default"].steps[1].template == "Answer briefly: {{ input }}"


@pytest.mark.parametrize(
    ("node", "path", "text", "expected"),
    [
        (
            ("policies",),
            ("policies", "retry", "max_attempts"),
            "3",
            ["+policies:", "+  retry:", "+    max_attempts: 3"],
        ),
        (
            ("provider", "sim-openai"),
            ("providers", "sim-openai", "stream_usage"),
            "never",
            ["+    stream_usage: never"],
        ),
        ("parallel", ("merge",), "first", ["-        merge: all", "+        merge: first"]),
        ("retrieve", ("top_k",), "6", ["+        top_k: 6"]),
    ],
)
async def test_each_remaining_form_writes_exactly_its_change(
    profile_file: Path, node: Any, path: tuple[Any, ...], text: str, expected: list[str]
) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        if isinstance(node, str):  # a step kind: added after `default`'s answer, then edited in its form
            assert screen.add_step(node)
            path = ("routes", "default", "steps", 1, *path)
        else:
            screen.select(node)
        await pilot.pause()
        before = editor.text
        await enter(pilot, screen, path, text)
        assert changes(before, editor.text) == expected
        assert comment_lines(editor.text) == comment_lines(profile_file.read_text())


async def test_targets_are_reordered_with_keys_and_removed_with_the_mouse(profile_file: Path) -> None:
    before = profile_file.read_text()
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        field(screen, "routes", "default", "steps", 0, "targets", 1, "weight").focus()
        await pilot.press("ctrl+up")  # moves the target the focused field belongs to
        await pilot.pause()
        assert changes(before, editor.text) == [
            "-        targets: [swift, steady]",
            "+        targets: [steady, swift]",
        ]
        await pilot.press("ctrl+down")
        await pilot.pause()
        assert editor.text == before
        form = screen.query_one("#form", NodeForm)
        remove = [b for b in form.query(".itembtn.remove") if b.row.path[-2:] == ("targets", 0)]
        await pilot.click(remove[0])
        await pilot.pause()
        assert changes(before, editor.text) == ["-        targets: [swift, steady]", "+        targets: [steady]"]


async def test_a_classifier_route_gets_a_categories_table(profile_file: Path) -> None:
    from workbench.tui.composer import AskName

    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        screen.select(("step", "tiered", (0,)))
        await pilot.pause()
        base = ("routes", "tiered", "steps", 0)
        await enter(pilot, screen, (*base, "@mode"), "classifier")
        step = editor.current().profile.routes["tiered"].steps[0]
        assert step.mode == "classifier" and step.classifier.model == "swift"
        assert {name: cat.description for name, cat in step.categories.items()} == {
            "hard": "requests for hard",
            "easy": "requests for easy",
        }
        await enter(pilot, screen, (*base, "categories", "hard", "description"), "proofs and derivations")
        await enter(pilot, screen, (*base, "classifier", "min_confidence"), "0.8")
        form = screen.query_one("#form", NodeForm)
        add = next(r for r in form.rows if r.kind == "add" and r.path[-1] == "categories")
        screen.item_action("add", add)
        await pilot.pause()
        assert isinstance(app.screen, AskName)
        app.screen.query_one("#name", Input).value = "chat"
        await pilot.press("enter")
        await pilot.pause()
        step = editor.current().profile.routes["tiered"].steps[0]
        assert step.classifier.min_confidence == 0.8
        assert step.categories["hard"].description == "proofs and derivations"
        assert (step.categories["chat"].description, step.categories["chat"].branch) == ("requests about chat", "easy")


async def test_a_parallel_judge_is_built_from_its_fields_then_merge_uses_it(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        assert screen.add_step("parallel")
        await pilot.pause()
        before = editor.text
        step = ("routes", "default", "steps", 1)
        assert (*step, "judge", "type") not in screen.query_one("#form", NodeForm).fields  # fixed: never asked
        await enter(pilot, screen, (*step, "judge", "model"), "sage")
        assert "rubric" in problem(screen) and editor.text == before  # a judge needs both: nothing written yet
        await enter(pilot, screen, (*step, "judge", "rubric"), "The most accurate answer.")
        await enter(pilot, screen, (*step, "merge"), "judge")
        assert changes(before, editor.text) == [
            "-        merge: all",
            "+        merge: judge",
            "+        judge:",
            "+          type: judge",
            "+          model: sage",
            "+          rubric: The most accurate answer.",
        ]


async def test_escape_leaves_a_field_for_the_tree_and_applies_what_it_holds(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        widget = field(screen, "routes", "default", "steps", 0, "temperature")
        widget.focus()
        await pilot.press("0", ".", "2")  # typed, no Enter
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and app.focused is screen.query_one("#tree")
        assert editor.current().profile.routes["default"].steps[0].temperature == 0.2
        assert field(screen, "routes", "default", "steps", 0, "temperature").value == "0.2"
