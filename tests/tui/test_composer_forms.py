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
from tui_helpers import until

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


def _shown(screen: Composer, path: tuple[Any, ...]) -> bool:
    """The selected node's form has the field at `path` (opening its policy block when it is in one)."""
    form = screen.query_one("#form", NodeForm)
    if path in form.fields:
        return True
    if not (form.rows and all(g.is_mounted for g in form.groups.values())):
        return False  # a block opened before it is mounted would have nowhere to put its fields
    return form.reveal(path)


async def form_ready(pilot: Any, screen: Composer) -> NodeForm:
    """Wait until the selected node's form is on screen: every field it made is mounted."""
    form = screen.query_one("#form", NodeForm)
    widgets = lambda: [*form.fields.values(), *form.groups.values()]  # noqa: E731
    await until(pilot, lambda: bool(form.rows) and all(w.is_mounted for w in widgets()), "the form")
    return form


async def enter(pilot: Any, screen: Composer, path: tuple[Any, ...], text: str) -> Any:
    """Type `text` into the field at `path` (validated as typed) and press Enter, or for a multi-line field
    leave it (applied); return once the composer has handled it (applied, or marked invalid)."""
    from workbench.tui.composer.form import FieldText

    path = tuple(path)
    await until(pilot, lambda: _shown(screen, path), f"the field {path} in the form")

    def focused() -> bool:  # a field of a block just opened is mounted a moment later (and a rebuild replaces it)
        widget = field(screen, *path)
        if screen.focused is not widget:
            widget.focus()
            return False
        return True

    await until(pilot, focused, f"{path} to take the focus")
    widget = field(screen, *path)
    handled: list[str] = []
    done = screen._field_done

    def field_done(row: Any, value: str) -> None:
        done(row, value)
        if row.path == path:
            handled.append(value)

    screen._field_done = field_done  # type: ignore[method-assign]  # (Enter, or leaving a field, ends here)
    try:
        if isinstance(widget, FieldText):
            widget.load_text(text)
            await until(pilot, lambda: widget.text == text, f"{path} to hold the text")
            screen.query_one("#tree").focus()
        else:
            widget.value = text
            await until(pilot, lambda: widget.value == text, f"{path} to hold the value")
            await pilot.press("enter")
        await until(pilot, lambda: text in handled, f"the composer to apply {text!r} to {path}")
    finally:
        del screen._field_done
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
        await form_ready(pilot, screen)
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
        await form_ready(pilot, screen)
        step_attempts = ("routes", "default", "steps", 0, "retry", "max_attempts")
        assert field(screen, *step_attempts).placeholder == "2 · default"
        # the route's own form: the retry every step of the route inherits
        screen.select(("route", "default"))
        await form_ready(pilot, screen)
        await enter(pilot, screen, ("routes", "default", "retry", "max_attempts"), "4")
        screen.select(("step", "default", (0,)))
        await form_ready(pilot, screen)
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
        await until(pilot, lambda: editor.text == before, "three undos")


async def test_an_invalid_value_shows_the_check_message_and_blocks_saving(
    profile_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.tui.composer import editing

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
        await form_ready(pilot, screen)
        screen.select(("step", "tiered", (0,)))
        await form_ready(pilot, screen)
        path = ("routes", "tiered", "steps", 0, "strong_weak", "threshold")
        widget = field(screen, *path)
        widget.focus()
        await until(pilot, lambda: screen.focused is widget, "the field to take the focus")
        monkeypatch.setattr(editing, "CHECK_AFTER_S", 1.0)  # (0.15 s in use; longer so a loaded machine sees "not yet")
        widget.value = "1.5"
        await until(pilot, lambda: screen._check_timer is not None, "the typing to be seen")
        assert problem(screen) != expected  # not checked on the key itself: the check waits for a pause in typing
        await until(pilot, lambda: problem(screen) == expected, "the check once the typing pauses")
        assert str(screen.query_one("#form", NodeForm).errors[path].render()) == expected
        await pilot.press("enter")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: problem(screen).startswith("not saved"), "the save to be refused")
        assert not isinstance(app.screen, ConfirmDiff)  # no diff offered: nothing can be saved
        assert problem(screen).startswith("not saved: fix routes.tiered.steps.0.strong_weak.threshold first")
        assert not editor.modified
        # a valid value is applied in place, and saving works again
        widget.value = "0.7"
        await pilot.press("enter")
        await until(pilot, lambda: "threshold: 0.7" in editor.text, "0.7 to be applied")
        assert changes(before, editor.text) == [
            "-        strong_weak: {threshold: 0.5, strong: hard, weak: easy}",
            "+        strong_weak: {threshold: 0.7, strong: hard, weak: easy}",
        ]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDiff) and app.screen.is_mounted, "the diff to confirm")


async def test_the_route_form_switches_mode_and_edits_the_rules_table(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        await form_ready(pilot, screen)
        screen.select(("step", "tiered", (0,)))
        await form_ready(pilot, screen)
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
        await until(pilot, lambda: isinstance(app.screen, Composer) and app.screen.is_mounted, "the composer")
        screen = app.screen
        assert isinstance(screen, Composer)
        await form_ready(pilot, screen)
        screen.query_one("#tree").focus()
        await pilot.press("i")  # the kind picker
        await until(pilot, lambda: bool(app.screen.query("#pick")), "the kind picker")
        await pilot.click("#pick")  # focus it, then choose `gate` with the keyboard
        await pilot.press("home", *["down"] * 3, "enter")
        await until(pilot, lambda: screen.node == ("step", "default", (1,)), "the gate step")
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
        await until(pilot, lambda: not isinstance(app.screen, Composer), "the composer to close")
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
        await form_ready(pilot, screen)
        assert screen.add_step("gate")
        form = await form_ready(pilot, screen)
        add = next(r for r in form.rows if r.kind == "add" and r.path[-1] == "checks")
        screen.item_action("add", add)
        await until(pilot, lambda: bool(app.screen.query("#pick")), "the check type picker")
        await pilot.click("#pick")
        await pilot.press("home", "down", "enter")  # the second type: contains
        step = lambda: editor.current().profile.routes["default"].steps[1]  # noqa: E731
        await until(pilot, lambda: len(step().checks) == 2, "a second check")
        await form_ready(pilot, screen)
        checks = editor.current().profile.routes["default"].steps[1].checks
        assert [c.type for c in checks] == ["length", "contains"]
        field(screen, "routes", "default", "steps", 1, "checks", 1, "text").focus()
        await pilot.press("ctrl+r")  # removes the check of the focused field
        await until(pilot, lambda: len(step().checks) == 1, "the check's removal")
        assert [c.type for c in editor.current().profile.routes["default"].steps[1].checks] == ["length"]


async def test_a_template_is_validated_with_the_load_time_message(profile_file: Path) -> None:
    from workbench.tui.composer.form import FieldText

    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        await form_ready(pilot, screen)
        assert screen.add_step("transform")
        await form_ready(pilot, screen)
        path = ("routes", "default", "steps", 1, "template")
        area = screen.query_one("#form", NodeForm).fields[path]
        assert isinstance(area, FieldText) and area.text == "{{ input }}"
        try:
            ProfileEditor.open(profile_file).set("routes.default.steps.0.system", "{{ nope }}")
        except ProfileError as err:
            expected_tail = err.message.split("system: ", 1)[1]
        area.focus()
        await until(pilot, lambda: screen.focused is area, "the template to take the focus")
        area.load_text("{{ nope }}")
        screen._field_typed(area.row, area.text)
        assert problem(screen).endswith(f"routes.default.steps.1.template: {expected_tail}")
        area.load_text("Answer briefly: {{ input }}")
        screen.query_one("#tree").focus()  # leaving the field applies it
        steps = lambda: editor.current().profile.routes["default"].steps  # noqa: E731
        await until(pilot, lambda: steps()[1].template == "Answer briefly: {{ input }}", "the template applied")
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
        await form_ready(pilot, screen)
        if isinstance(node, str):  # a step kind: added after `default`'s answer, then edited in its form
            assert screen.add_step(node)
            path = ("routes", "default", "steps", 1, *path)
        else:
            screen.select(node)
        await form_ready(pilot, screen)
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
        await form_ready(pilot, screen)
        weight = field(screen, "routes", "default", "steps", 0, "targets", 1, "weight")
        weight.focus()
        await until(pilot, lambda: screen.focused is weight, "the weight field to take the focus")
        await pilot.press("ctrl+up")  # moves the target the focused field belongs to
        await until(pilot, lambda: editor.text != before, "the target to move up")
        assert changes(before, editor.text) == [
            "-        targets: [swift, steady]",
            "+        targets: [steady, swift]",
        ]
        await pilot.press("ctrl+down")
        await until(pilot, lambda: editor.text == before, "the target to move back down")
        form = await form_ready(pilot, screen)
        remove = [b for b in form.query(".itembtn.remove") if b.row.path[-2:] == ("targets", 0)]
        await pilot.click(remove[0])
        await until(pilot, lambda: editor.text != before, "the target's removal")
        assert changes(before, editor.text) == ["-        targets: [swift, steady]", "+        targets: [steady]"]


async def test_a_classifier_route_gets_a_categories_table(profile_file: Path) -> None:
    from workbench.tui.composer import AskName

    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        await form_ready(pilot, screen)
        screen.select(("step", "tiered", (0,)))
        await form_ready(pilot, screen)
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
        await until(
            pilot,
            lambda: isinstance(app.screen, AskName) and app.screen.is_mounted and bool(app.screen.query("#name")),
            "the name",
        )
        name = app.screen.query_one("#name", Input)
        name.value = "chat"
        await until(pilot, lambda: name.value == "chat" and app.screen.focused is name, "the name typed")
        await pilot.press("enter")
        cats = lambda: editor.current().profile.routes["tiered"].steps[0].categories  # noqa: E731
        await until(pilot, lambda: "chat" in cats(), "the category chat")
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
        await form_ready(pilot, screen)
        assert screen.add_step("parallel")
        await form_ready(pilot, screen)
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
        await form_ready(pilot, screen)
        widget = field(screen, "routes", "default", "steps", 0, "temperature")
        widget.focus()
        await until(pilot, lambda: screen.focused is widget, "the field to take the focus")
        await pilot.press("0", ".", "2")  # typed, no Enter
        await until(pilot, lambda: widget.value == "0.2", "the typing")
        await pilot.press("escape")
        tree = screen.query_one("#tree")
        steps = lambda: editor.current().profile.routes["default"].steps  # noqa: E731
        await until(pilot, lambda: app.focused is tree and steps()[0].temperature == 0.2, "Esc to apply and leave")
        assert app.screen is screen and app.focused is screen.query_one("#tree")
        assert editor.current().profile.routes["default"].steps[0].temperature == 0.2
        assert field(screen, "routes", "default", "steps", 0, "temperature").value == "0.2"
