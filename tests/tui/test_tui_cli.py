"""`workbench tui` as a user runs it: a real subprocess; bad profiles fail before any screen is drawn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def workbench(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_missing_profile_is_a_message_and_exit_2() -> None:
    result = workbench("tui", "--profile", "profiles/no-such-profile.yaml")
    assert result.returncode == 2
    assert "profiles/no-such-profile.yaml" in result.stderr and "no such file" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_invalid_profile_names_the_file_and_line_before_the_app_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nname: bad\nproviders:\n  p: {kind: sim}\nmodels:\n  m: {provider: nowhere, model: x}\n"
        "routes:\n  r:\n    steps: [{name: s, targets: [m]}]\n",
        encoding="utf-8",
    )
    result = workbench("tui", "--profile", str(bad))
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "nowhere" in result.stderr
    assert "Traceback" not in result.stderr
    assert "\x1b[?1049h" not in result.stdout  # the terminal was never switched to the app's screen


def test_the_demo_opens_and_quits_cleanly(tmp_path: Path) -> None:
    # Textual's own switches: a headless driver, and a screenshot (then exit) one second after start.
    env = {
        "TEXTUAL_DRIVER": "textual.drivers.headless_driver:HeadlessDriver",
        "TEXTUAL_SCREENSHOT": "1",
        "TEXTUAL_SCREENSHOT_LOCATION": str(tmp_path),
        "TEXTUAL_SCREENSHOT_FILENAME": "tui.svg",
    }
    result = workbench("tui", "--profile", "profiles/demo.yaml", env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    svg = (tmp_path / "tui.svg").read_text(encoding="utf-8")
    for text in ("default", "ctrl+s&#160;send", "hops", "ready"):
        assert text in svg, text


def test_help_names_the_default_profile() -> None:
    result = workbench("tui", "--help")
    assert result.returncode == 0
    assert "--profile" in result.stdout and "profiles/demo.yaml" in result.stdout


def test_workbench_with_no_command_takes_the_tui_options(tmp_path: Path) -> None:
    # the launch line: `workbench --profile F` opens F (here a missing one: its message proves it was used)
    result = workbench("--profile", "profiles/no-such-profile.yaml")
    assert result.returncode == 2 and "profiles/no-such-profile.yaml" in result.stderr, result.stderr
    env = {
        "TEXTUAL_DRIVER": "textual.drivers.headless_driver:HeadlessDriver",
        "TEXTUAL_SCREENSHOT": "1",
        "TEXTUAL_SCREENSHOT_LOCATION": str(tmp_path),
        "TEXTUAL_SCREENSHOT_FILENAME": "tui.svg",
    }
    other = tmp_path / "other.yaml"
    other.write_text(
        "name: other-profile\nproviders:\n  p: {kind: sim}\nmodels:\n  m: {provider: p, model: sim-m}\n"
        "routes:\n  only-route:\n    steps: [{name: s, targets: [m]}]\n",
        encoding="utf-8",
    )
    result = workbench("--profile", str(other), "--no-save", env=env)
    assert result.returncode == 0, result.stderr
    assert "only-route" in (tmp_path / "tui.svg").read_text(encoding="utf-8")


def test_tui_options_before_another_command_are_a_usage_error() -> None:
    result = workbench("--profile", "profiles/demo.yaml", "routes")
    assert result.returncode == 2 and "put it after the command" in result.stderr
    assert "Traceback" not in result.stderr
