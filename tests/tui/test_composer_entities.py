"""The composer's provider and model forms, and the file the forms write: `profile check` passes on it, the
headless `workbench profile set` writes the same bytes, and the demo profile keeps every comment."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_composer import FIXTURE, ComposerApp, comment_lines
from test_composer_forms import DEMO, changes, enter, form_ready
from textual.widgets import Input, Static
from tui_helpers import until

from workbench.profiles.edit import ProfileEditor
from workbench.profiles.load import load_profile
from workbench.tui.composer import Composer, EntityForm


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    dest = tmp_path / "demo.yaml"
    shutil.copy(FIXTURE, dest)
    return dest


async def test_a_provider_and_a_model_added_by_form_pass_profile_check(profile_file: Path) -> None:
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        await form_ready(pilot, screen)
        screen.query_one("#tree").focus()
        await pilot.press("p")
        await until(pilot, lambda: bool(app.screen.query("#e_api_key_env")), "the provider form")
        dialog = app.screen
        assert isinstance(dialog, EntityForm)
        dialog.query_one("#e_name", Input).value = "acme"
        dialog.query_one("#e_base_url", Input).value = "http://127.0.0.1:9/v1"
        dialog.query_one("#e_api_key_env", Input).value = "fake-0123456789abcdefghij"  # pasted a key, not a name
        shown = lambda: str(dialog.query_one("#problem", Static).render())  # noqa: E731
        await until(pilot, lambda: "looks like a key" in shown(), "the key to be refused")
        message = shown()
        assert "looks like a key" in message and "fake-0123" not in message
        assert dialog.query_one("#add").disabled
        dialog.query_one("#e_api_key_env", Input).value = "ACME_API_KEY"
        await until(pilot, lambda: not dialog.query_one("#add").disabled, "the form to accept a name")
        await pilot.click("#add")
        await until(pilot, lambda: screen.node == ("provider", "acme") and app.screen is screen, "the provider")
        await form_ready(pilot, screen)
        screen.query_one("#tree").focus()
        await pilot.press("m")
        await until(pilot, lambda: bool(app.screen.query("#e_tokenizer")), "the model form")
        dialog = app.screen
        assert isinstance(dialog, EntityForm)
        values = {"alias": "acme-large", "provider": "acme", "model": "large-2", "input": "1.25", "output": "5"}
        values |= {"context_window": "64000", "tokenizer": "cl100k_base"}
        for name, value in values.items():
            dialog.query_one(f"#e_{name}", Input).value = value
        await until(pilot, lambda: not dialog.query_one("#add").disabled, "the model form to be complete")
        await pilot.click("#add")
        await until(pilot, lambda: screen.node == ("model", "acme-large") and app.screen is screen, "the model")
        # edit the model in its own form: the output price
        await enter(pilot, screen, ("models", "acme-large", "prices", 0, "output"), "6")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(app.screen.query("#save")), "the diff to confirm")
        await pilot.click("#save")
        await until(pilot, lambda: "acme-large" in profile_file.read_text(), "the save")
    saved = profile_file.read_text()
    assert "  acme:\n    kind: openai\n    base_url: http://127.0.0.1:9/v1\n    api_key_env: ACME_API_KEY\n" in saved
    model = load_profile(profile_file).profile.models["acme-large"]
    assert (model.provider, model.model, model.context_window, model.tokenizer) == (
        "acme",
        "large-2",
        64000,
        "cl100k_base",
    )
    assert (str(model.prices[0].input), str(model.prices[0].output)) == ("1.25", "6")
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "profile", "check", str(profile_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_the_headless_twin_writes_the_same_file_as_the_form(profile_file: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin.yaml"
    shutil.copy(profile_file, twin)
    editor = ProfileEditor.open(profile_file)
    app = ComposerApp(editor)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        await form_ready(pilot, screen)
        screen.select(("step", "budget", (0,)))
        await form_ready(pilot, screen)
        await enter(pilot, screen, ("routes", "budget", "steps", 0, "timeouts", "first_token"), "12")
        editor.save()
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "profile", "set", str(twin), "routes.budget.steps.0.timeouts.first_token"]
        + ["12"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert twin.read_text() == profile_file.read_text()
    assert "        timeouts:\n          first_token: 12\n" in twin.read_text()


async def test_the_demo_profile_keeps_every_comment_through_a_form_edit(tmp_path: Path) -> None:
    demo = tmp_path / "demo.yaml"
    shutil.copy(DEMO, demo)
    before = demo.read_text()
    editor = ProfileEditor.open(demo)
    app = ComposerApp(editor)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, Composer)
        await form_ready(pilot, screen)
        await enter(pilot, screen, ("routes", "default", "steps", 0, "breaker", "failures"), "3")
    added = changes(before, editor.text)
    assert added == ["+        breaker:", "+          failures: 3"]
    assert comment_lines(editor.text) == comment_lines(before)
