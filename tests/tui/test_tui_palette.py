"""The command palette offers every action of every screen (issue 20, item 20), and Textual's Screenshot entry
saves under the workbench data directory instead of failing on a missing ~/Downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette
from tui_helpers import demo_profile, until

from workbench.profiles.load import load_profile
from workbench.tui.app import make_app
from workbench.tui.commands import WorkbenchCommands
from workbench.tui.composer import Composer
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.playground import PlaygroundScreen


async def titles(app: object) -> list[str]:
    provider = WorkbenchCommands(app.screen)  # type: ignore[attr-defined]
    return [str(hit.display) async for hit in provider.discover()]


async def palette(pilot: object, query: str) -> None:
    """Open the palette, type `query`, wait for its best match, choose it."""
    await pilot.press("ctrl+p")  # type: ignore[attr-defined]
    app = pilot.app  # type: ignore[attr-defined]
    await until(pilot, lambda: isinstance(app.screen, CommandPalette) and app.screen.is_mounted, "the palette")  # type: ignore[arg-type]
    await pilot.press(*query)  # type: ignore[attr-defined]
    await until(pilot, lambda: app.screen._list_visible, "the palette's matches")  # type: ignore[arg-type]
    await pilot.press("down", "enter")  # type: ignore[attr-defined]


async def test_the_palette_lists_every_screens_actions_and_the_routes_view(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(demo_profile().text)
    app = make_app(load_profile(path), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, PlaygroundScreen)
        listed = await titles(app)
        for wanted in (
            "view: routes (composer)",
            "playground: send",
            "compare: add column",
            "compare: what-if price",
            "compare: stop",
            "eval: start eval",
            "eval: export best",
            "routes: save (diff)",
            "routes: undo",
            "routes: add step",
            "sessions: delete",
        ):
            assert wanted in listed, wanted
        assert "playground: stop" not in listed  # nothing runs: Stop does not apply here now

        await palette(pilot, "compare: add column")  # another screen's action: shown, then run there
        await until(
            pilot,
            lambda: isinstance(app.screen, CompareScreen) and app.screen.is_mounted and len(app.screen.columns) == 4,
            "4 columns",
        )

        await palette(pilot, "view: routes")
        await until(pilot, lambda: isinstance(app.screen, Composer) and app.screen.is_mounted, "the composer")


async def test_the_screenshot_command_saves_under_the_data_dir_when_downloads_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/Downloads there
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    (tmp_path / "home").mkdir()
    shots = tmp_path / "data" / "workbench" / "screenshots"
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        await palette(pilot, "Screenshot")
        await until(pilot, lambda: shots.is_dir() and any(shots.glob("*.svg")), "the screenshot file")
        # the file is written off the event loop, and the toast saying where comes after it: wait for that too
        await until(pilot, lambda: any(str(shots) in str(n.message) for n in app._notifications), "where it went")
