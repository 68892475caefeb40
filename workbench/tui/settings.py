"""User settings the TUI remembers between runs (the theme), as a small pydantic model in a JSON file.

The file lives in the platform's config dir (`$XDG_CONFIG_HOME/workbench/tui.json`, or `$WORKBENCH_CONFIG_DIR`
for tests). Reading never fails the app: a missing or broken file gives the defaults. Writing creates the
directory on first write only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError


class TuiSettings(BaseModel):
    theme: str = "textual-dark"


def settings_path() -> Path:
    override = os.environ.get("WORKBENCH_CONFIG_DIR")
    if override:
        return Path(override) / "tui.json"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "workbench" / "tui.json"


def load_settings(path: Path | None = None) -> TuiSettings:
    path = path or settings_path()
    try:
        return TuiSettings.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return TuiSettings()


def save_settings(settings: TuiSettings, path: Path | None = None) -> None:
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(settings.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only config dir must not break the app; the choice is simply not remembered
