"""The route composer, driven through Pilot on a copy of the demo profile (plus a strong/weak route)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Static
from tui_helpers import settled, until

from workbench.profiles.edit import ProfileEditor
from workbench.tui.composer import Composer, ConfirmDiff
from workbench.tui.flow import route_flow

# A frozen copy of the demo profile plus a strong/weak route, so the tests do not move when the demo does.
FIXTURE = Path(__file__).resolve().parent / "composer_profile.yaml"


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    dest = tmp_path / "demo.yaml"
    shutil.copy(FIXTURE, dest)
    return dest


class ComposerApp(App[None]):
    def __init__(self, editor: ProfileEditor) -> None:
        super().__init__()
        self.editor = editor
        self.edits = 0

    def compose(self) -> ComposeResult:
        yield Static("playground")

    def on_mount(self) -> None:
        self.push_screen(Composer(self.editor))

    def on_composer_edited(self, message: Composer.Edited) -> None:
        self.edits += 1


async def composer_ready(pilot: Any) -> Composer:
    """Wait until the composer is the screen and the selected node's form is on screen (its fields mounted)."""
    from workbench.tui.composer.form import NodeForm

    await until(pilot, lambda: isinstance(pilot.app.screen, Composer) and pilot.app.screen.is_mounted, "the composer")
    screen = pilot.app.screen
    form = screen.query_one("#form", NodeForm)
    widgets = lambda: [*form.fields.values(), *form.groups.values()]  # noqa: E731
    await until(pilot, lambda: bool(form.rows) and all(w.is_mounted for w in widgets()), "the form")
    return screen


def comment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


async def test_reordering_the_default_fallback_chain_is_tried_then_saved_with_comments_kept(profile_file: Path) -> None:
    before = profile_file.read_text()
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        assert screen.selected == ("default", (0,))
        targets = screen.query_one("#targets", Input)
        assert targets.value == "swift, steady"
        targets.value = "steady, swift"
        targets.focus()
        await until(pilot, lambda: screen.focused is targets, "the targets to take the focus")
        await pilot.press("enter")
        await until(pilot, lambda: app.edits >= 1, "the edit to reach the app")
        # tried before saving: the edited profile is what the app now has, and the file is untouched
        assert app.edits >= 1 and editor.modified
        assert [t.model for t in editor.current().profile.routes["default"].steps[0].targets] == ["steady", "swift"]
        assert profile_file.read_text() == before
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDiff) and app.screen.is_mounted, "the diff to confirm")
        assert "-        targets: [swift, steady]" in app.screen.diff
        assert "+        targets: [steady, swift]" in app.screen.diff
        await pilot.click("#save")
        await until(pilot, lambda: profile_file.read_text() != before, "the save")
    after = profile_file.read_text()
    assert comment_lines(after) == comment_lines(before)
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("        targets: [swift, steady]", "        targets: [steady, swift]")]


async def test_a_threshold_is_set_in_place_and_invalid_input_shows_the_check_message(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        screen.select(("step", "tiered", (0,)))
        setter = screen.query_one("#setter", Input)
        setter.focus()
        await until(pilot, lambda: screen.focused is setter, "the setter to take the focus")
        setter.value = "strong_weak.threshold = 1.5"
        shown = lambda: str(screen.query_one("#problem", Static).render())  # noqa: E731
        await until(pilot, lambda: "strong_weak.threshold" in shown(), "the check once the typing pauses")
        problem = shown()
        assert "routes.tiered.steps.0.strong_weak.threshold" in problem and "1" in problem
        await pilot.press("enter")
        await settled(pilot)
        assert not editor.modified  # refused: nothing changed
        setter.value = "strong_weak.threshold = 0.7"
        await pilot.press("enter")
        await until(pilot, lambda: editor.modified, "0.7 to be applied")
        assert editor.current().profile.routes["tiered"].steps[0].strong_weak.threshold == 0.7
        assert "strong_weak: {threshold: 0.7, strong: hard, weak: easy}" in editor.text
        await pilot.press("ctrl+z")
        await until(pilot, lambda: not editor.modified, "the undo")


async def test_a_change_on_disk_is_detected_before_saving(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    editor.set("sim.seed", 99)
    profile_file.write_text(profile_file.read_text().replace("seed: 7", "seed: 8"))
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDiff) and app.screen.is_mounted, "the diff to confirm")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDiff) and dialog.changed_on_disk
        assert dialog.query("#overwrite") and dialog.query("#reload") and not dialog.query("#save")
        await pilot.click("#reload")
        await until(pilot, lambda: "seed: 8" in editor.text, "the reload")
    assert "seed: 8" in profile_file.read_text() and not editor.modified and "seed: 8" in editor.text


def test_the_flow_view_draws_branches_and_what_follows(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    flow = route_flow(editor.current().profile.routes["tiered"])
    lines = flow.splitlines()
    assert lines[0].startswith("pick ◇─┬─ hard ── deep(sage→steady)")
    assert lines[1].strip() == "└─ easy (default) ── quick(swift)"
    assert lines[1].index("└") == lines[0].index("┬")
    assert lines[2] == "╰─▶ polish(steady)"
    assert route_flow(editor.current().profile.routes["default"]) == "answer(swift→steady)"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_composer_snapshot(snap_compare, size: tuple[int, int]) -> None:
    editor = ProfileEditor.open(FIXTURE)  # opened, never saved

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        await composer_ready(pilot)
        await settled(pilot)

    assert snap_compare(ComposerApp(editor), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_composer_snapshot_with_the_routing_form_open(snap_compare, size: tuple[int, int]) -> None:
    """The strong/weak route step's form: its mode, threshold and branches, with the typing cursor in the
    threshold field (the form scrolled to it) and the tree still beside it."""
    editor = ProfileEditor.open(FIXTURE)  # opened, never saved

    async def open_form(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = pilot.app.screen
        await composer_ready(pilot)
        tree = screen.query_one("#tree")
        tree.focus()  # from the tree, as a user clicks a node: no field was left (which would check it: "✓ valid")
        await until(pilot, lambda: screen.focused is tree, "the tree to take the focus")
        screen.select(("step", "tiered", (0,)))
        await composer_ready(pilot)
        field = screen.query_one("#form").fields[("routes", "tiered", "steps", 0, "strong_weak", "threshold")]
        field.cursor_blink = False  # the picture must not depend on when in the blink it is taken
        field.focus()
        await until(pilot, lambda: screen.focused is field, "the threshold to take the focus")
        await settled(pilot)

    assert snap_compare(ComposerApp(editor), terminal_size=size, run_before=open_form)


async def test_an_unsaved_edit_is_what_the_playground_runs(profile_file: Path, tmp_path: Path) -> None:
    from tui_helpers import run_to_end

    from workbench.profiles.load import load_profile
    from workbench.tui.app import make_app

    before = profile_file.read_text()
    app = make_app(load_profile(profile_file), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await pilot.press("ctrl+e")
        composer = await composer_ready(pilot)
        targets = composer.query_one("#targets", Input)
        targets.value = "steady, swift"
        targets.focus()
        await until(pilot, lambda: composer.focused is targets, "the targets to take the focus")
        await pilot.press("enter")
        await until(pilot, lambda: "modified" in app.title, "the edit to reach the app")
        await pilot.press("escape", "escape")  # the form to the tree, the tree out of the composer
        await until(pilot, lambda: not isinstance(app.screen, Composer), "the composer to close")
        assert await app.wait_for_engine()
        await run_to_end(pilot, "Which model answers first now?", route="default")
        attempts = [r for r in app.screen.state.rows.values() if r.kind == "attempt"]
        assert attempts and attempts[0].model == "steady" and attempts[0].status == "ok"
    assert profile_file.read_text() == before  # tried, not saved


async def test_a_route_is_renamed_from_the_composer(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        screen.query_one("#tree").focus()
        await pilot.press("r")
        await until(pilot, lambda: bool(app.screen.query("#name")), "the name to ask")
        field = app.screen.query_one("#name", Input)
        assert field.value == "default"
        field.value = "everyday"
        await pilot.press("enter")
        await until(pilot, lambda: "everyday" in editor.current().profile.routes, "the rename")
        assert list(editor.current().profile.routes)[0] == "everyday"
        assert editor.current().profile.default_route == "everyday"


async def test_a_model_is_added_then_used_in_a_fallback_chain(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        screen.query_one("#tree").focus()
        await pilot.press("m")
        await until(pilot, lambda: bool(app.screen.query("#e_alias")), "the model form")
        alias = app.screen.query_one("#e_alias", Input)
        alias.value = "local-llama"
        alias.focus()
        await until(pilot, lambda: app.screen.focused is alias, "the alias to take the focus")
        await pilot.press("enter")
        await until(pilot, lambda: "local-llama" in editor.current().profile.models, "the model to be added")
        model = editor.current().profile.models["local-llama"]
        assert model.provider == next(iter(editor.current().profile.providers))
        await until(pilot, lambda: app.screen is screen, "the composer again")
        screen.select(("step", "default", (0,)))
        targets = screen.query_one("#targets", Input)
        targets.value = "swift, steady, local-llama"
        targets.focus()
        await until(pilot, lambda: screen.focused is targets, "the targets to take the focus")
        await pilot.press("enter")
        steps = lambda: editor.current().profile.routes["default"].steps  # noqa: E731
        await until(pilot, lambda: len(steps()[0].targets) == 3, "the chain to be applied")
        chain = [t.model for t in editor.current().profile.routes["default"].steps[0].targets]
        assert chain == ["swift", "steady", "local-llama"]


async def test_a_route_renamed_in_the_composer_is_offered_by_the_playground(profile_file: Path, tmp_path: Path) -> None:
    from textual.widgets import Select

    from workbench.profiles.load import load_profile
    from workbench.tui.app import make_app

    app = make_app(load_profile(profile_file), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        assert "default" in _options(app.screen.query_one("#route", Select))  # the playground was shown first
        await pilot.press("ctrl+e")
        composer = await composer_ready(pilot)
        composer.query_one("#tree").focus()
        await pilot.press("r")
        await until(pilot, lambda: bool(app.screen.query("#name")), "the name to ask")
        name = app.screen.query_one("#name", Input)
        name.value = "everyday"
        await until(pilot, lambda: app.screen.focused is name, "the name typed")
        await pilot.press("enter")
        await until(pilot, lambda: "everyday" in app.editor.current().profile.routes, "the rename")
        await pilot.press("escape", "escape")  # out of the composer, back on the playground
        await until(pilot, lambda: not isinstance(app.screen, Composer), "the composer to close")
        await until(pilot, lambda: "everyday" in _options(app.screen.query_one("#route", Select)), "the routes")
        options = _options(app.screen.query_one("#route", Select))
        assert "everyday" in options and "default" not in options


def _options(select: Any) -> list[str]:
    return [str(value) for _, value in select._options if isinstance(value, str)]
