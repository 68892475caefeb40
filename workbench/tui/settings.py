"""User settings the TUI remembers between runs (the theme), as a small frozen dataclass in a JSON file.

The file lives in the platform's config dir (`$XDG_CONFIG_HOME/workbench/tui.json`, or `$WORKBENCH_CONFIG_DIR`
for tests). Reading never fails the app: a missing or broken file gives the defaults. Writing creates the
directory on first write only. A dataclass, not a pydantic model: this is read before the first frame, and
pydantic is not on that path (`tests/tui/test_tui_startup.py`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class TuiSettings:
    theme: str = "textual-dark"

    def model_copy(self, *, update: dict[str, Any]) -> TuiSettings:
        return dataclasses.replace(self, **update)


def settings_path() -> Path:
    override = os.environ.get("WORKBENCH_CONFIG_DIR")
    if override:
        return Path(override) / "tui.json"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "workbench" / "tui.json"


def load_settings(path: Path | None = None) -> TuiSettings:
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return TuiSettings()
    theme = data.get("theme") if isinstance(data, dict) else None
    return TuiSettings(theme=theme) if isinstance(theme, str) else TuiSettings()


def save_settings(settings: TuiSettings, path: Path | None = None) -> None:
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(settings), indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only config dir must not break the app; the choice is simply not remembered
