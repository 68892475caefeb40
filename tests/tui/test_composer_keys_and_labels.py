"""The composer as a user met it (issue 20, item 17): letters typed with the focus in the form are letters, not
commands; a written system prompt is not labelled as the default; edits keep the file's blank lines in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_composer_forms import enter
from textual.widgets import Label

from workbench.profiles.load import load_profile
from workbench.tui.app import make_app
from workbench.tui.composer import Composer
from workbench.tui.composer.form import NodeForm

DEMO = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"


@pytest.fixture
def demo_file(tmp_path: Path) -> Path:
    dest = tmp_path / "demo.yaml"
    shutil.copy(DEMO, dest)
    return dest


async def open_composer(pilot: object, app: object) -> Composer:
    await pilot.press("ctrl+e")  # type: ignore[attr-defined]
    screen = app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, Composer)
    return screen


async def test_letters_typed_with_the_focus_in_the_form_area_are_not_commands(demo_file: Path, tmp_path: Path) -> None:
    app = make_app(load_profile(demo_file), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_composer(pilot, app)
        before = app.editor.text
        screen.query_one("#side").focus()  # the form's scroll area (a click on its background puts focus there)
        await pilot.press("comma", "space", "s", "a", "g", "e", "i", "n", "r", "m", "p", "left_square_bracket")
        assert app.screen is screen  # no picker, no name or model dialog opened
        assert app.editor.text == before and not app.editor.modified
        screen.query_one("#tree").focus()  # from the tree the same letter is the command
        await pilot.press("g")
        assert app.editor.modified and "kind: gate" in app.editor.text


async def test_a_written_system_prompt_is_labelled_as_written_not_as_the_default(
    demo_file: Path, tmp_path: Path
) -> None:
    app = make_app(load_profile(demo_file), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_composer(pilot, app)
        assert screen.node == ("step", "default", (0,))  # demo.yaml: `system: You are a concise assistant...`
        form = screen.query_one("#form", NodeForm)
        titles = {str(label.render()).split()[0]: str(label.render()) for label in form.query(Label).filter(".ftlabel")}
        assert "none · default" not in titles["system"] and "written here" in titles["system"]
        assert titles["prompt"].endswith("none · default")  # not written: the default is what is in force


async def test_edits_at_the_end_of_a_route_keep_the_blank_line_between_routes(demo_file: Path, tmp_path: Path) -> None:
    original = demo_file.read_text()
    app = make_app(load_profile(demo_file), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_composer(pilot, app)
        assert screen.node == ("step", "default", (0,))  # the route's last step; its last key is `system`
        await enter(pilot, screen, ("routes", "default", "steps", 0, "temperature"), "0.5")
        added = "        temperature: 0.5\n"
        after_system = "        system: You are a concise assistant. Answer in a short paragraph.\n"
        assert after_system + added + "\n  fallback:" in app.editor.text  # the new key, then the blank line
        assert app.editor.text.replace(added, "", 1) == original  # nothing else moved
        screen.query_one("#tree").focus()
        await pilot.press("g")  # a gate after the route's last step
        text = app.editor.text
        gate = text[text.index(added) + len(added) : text.index("\n  fallback:")]  # up to the blank line
        assert gate.startswith("      - name: gate\n") and gate.endswith("min_chars: 1\n")  # the blank line follows
        assert text.replace(added, "", 1).replace(gate, "", 1) == original
