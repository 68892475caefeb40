"""Start-up: the first screen is painted before the profile is loaded, then the playground fills in; a profile
that cannot be loaded closes the app with its message; `workbench.cli` imports none of the heavy modules."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from textual.widgets import Static

from workbench.errors import ProfileError
from workbench.locations import PACKAGED_DEMO
from workbench.profiles.load import LoadedProfile, load_profile
from workbench.tui.app import make_app


async def test_the_first_screen_is_painted_before_the_profile_is_loaded(tmp_path: Path) -> None:
    release = threading.Event()
    calls: list[str] = []

    def loader() -> LoadedProfile:
        calls.append("started")
        assert release.wait(30), "the test never released the loader"
        return load_profile(PACKAGED_DEMO)

    app = make_app(loader, settings_file=tmp_path / "settings.json")
    async with app.run_test(size=(100, 30)) as pilot:
        from workbench.tui.screens.loading import LoadingScreen

        # the loading screen is up and drawn while the loader is still blocked
        assert isinstance(app.screen, LoadingScreen)
        status = app.screen.query_one("#loading-status", Static)
        assert "loading profile" in str(status.render())
        assert not app.profile_ready.is_set()
        await pilot.press("ctrl+k")  # keys that need the profile do nothing yet
        await pilot.press("ctrl+p")  # (the command palette lists the profile's routes)
        assert isinstance(app.screen, LoadingScreen)
        release.set()
        await app.profile_ready.wait()
        assert calls == ["started"]
        assert type(app.screen).__name__ == "PlaygroundScreen"
        assert app.profile.name == "demo" and app.title == "workbench · demo"
        await app.engines.wait()


async def test_a_profile_that_fails_to_load_closes_the_app_with_its_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [\n", encoding="utf-8")

    app = make_app(lambda: load_profile(bad), settings_file=tmp_path / "settings.json")
    await app.run_async(headless=True, size=(100, 30))  # returns when the app has closed itself
    assert app.return_code == 2
    assert isinstance(app.load_error, ProfileError)
    assert app.load_error.problems[0].startswith(f"{bad}:")


HEAVY = ("workbench.profiles", "pydantic", "ruamel", "yaml", "sqlite_utils", "workbench.store", "aiohttp", "jinja2")


def test_the_first_frame_path_imports_nothing_heavy() -> None:
    """`workbench.cli`, its tui command and the app module (what runs before the first frame) import none of the
    modules the loading screen does not draw: the profile, its models, YAML, the store, HTTP, templates."""
    code = (
        "import json, sys; import workbench.cli, workbench.cli.tui_cmd, workbench.tui.app,"
        " workbench.tui.screens.loading; print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    leaked = sorted(m for m in loaded for h in HEAVY if m == h or m.startswith(h + "."))
    assert not leaked, leaked


def test_settings_round_trip_and_a_broken_file_gives_the_defaults(tmp_path: Path) -> None:
    from workbench.tui.settings import TuiSettings, load_settings, save_settings

    path = tmp_path / "cfg" / "tui.json"
    assert load_settings(path) == TuiSettings()  # no file yet
    save_settings(TuiSettings().model_copy(update={"theme": "nord"}), path)
    assert json.loads(path.read_text(encoding="utf-8")) == {"theme": "nord"}
    assert load_settings(path).theme == "nord"
    for broken in ("{not json", '{"theme": 7}', "[1, 2]"):
        path.write_text(broken, encoding="utf-8")
        assert load_settings(path).theme == "textual-dark"


async def test_quitting_while_the_profile_loads_closes_cleanly(tmp_path: Path) -> None:
    release = threading.Event()

    def loader() -> LoadedProfile:
        assert release.wait(30), "the test never released the loader"
        return load_profile(PACKAGED_DEMO)

    app = make_app(loader, settings_file=tmp_path / "settings.json")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+q")
        release.set()  # the load finishes while the app closes: no playground, no error
    assert app.return_code == 0 and app.load_error is None
