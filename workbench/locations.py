"""Where workbench looks for things it is not told about: the session database and the default profile.

Nothing here depends on the current directory alone, so `workbench` works the same from any directory after
install; inside a checkout of the workbench project it keeps using the checkout's own files.

- **The project checkout.** The nearest of the current directory and its parents that holds a `pyproject.toml`
  whose `[project]` name is `workbench` and a `sessions/` directory beside it (both are in the repository). The
  pair is specific enough that an unrelated project is never taken for it, and a subdirectory of the checkout
  (`tests/`, `docs/`) finds the same root.
- **The session database**, first that applies: `--db PATH`; `$WORKBENCH_DB`; `<checkout>/sessions/workbench.db`
  inside the checkout; else the platform's data directory: `$XDG_DATA_HOME/workbench/workbench.db`, by default
  `~/.local/share/workbench/workbench.db` (the XDG Base Directory convention; `%LOCALAPPDATA%\\workbench` on
  Windows). The directory is created owner-only (0700) when the database is first written.
- **The default profile**, when no `--profile` is given: `<checkout>/profiles/demo.yaml` inside the checkout (the
  file users read and edit there); else the copy of the demo shipped inside the package (`workbench/data/demo.yaml`,
  kept identical to `profiles/demo.yaml` by `make sync-demo` and a test).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["default_db_path", "default_profile_path", "data_dir", "project_root", "PACKAGED_DEMO"]

PACKAGED_DEMO = Path(__file__).resolve().parent / "data" / "demo.yaml"
DB_NAME = "workbench.db"
_MAX_PYPROJECT_BYTES = 1 << 20


def _is_project(directory: Path) -> bool:
    pyproject = directory / "pyproject.toml"
    try:
        if not (directory / "sessions").is_dir() or not pyproject.is_file():
            return False
        with pyproject.open("rb") as fh:
            data = fh.read(_MAX_PYPROJECT_BYTES)
    except OSError:
        return False
    import tomllib

    try:
        project = tomllib.loads(data.decode("utf-8")).get("project")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(project, dict) and project.get("name") == "workbench"


def project_root(cwd: Path | None = None) -> Path | None:
    """The workbench checkout containing `cwd` (default: the current directory), or None outside one."""
    try:
        start = (cwd or Path.cwd()).resolve()
    except OSError:  # the current directory was removed
        return None
    for directory in (start, *start.parents):
        if _is_project(directory):
            return directory
    return None


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The platform's per-user data directory for workbench (XDG on Linux and macOS, LOCALAPPDATA on Windows)."""
    env = os.environ if environ is None else environ
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "workbench"
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative path in $XDG_DATA_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "workbench"


def default_db_path(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The session database when neither `--db` nor `$WORKBENCH_DB` names one."""
    root = project_root(cwd)
    if root is not None:
        return root / "sessions" / DB_NAME
    return data_dir(environ) / DB_NAME


def default_profile_path(cwd: Path | None = None) -> Path:
    """The profile used when no `--profile` is given: the checkout's demo inside a checkout, else the shipped one."""
    root = project_root(cwd)
    if root is not None and (root / "profiles" / "demo.yaml").is_file():
        return root / "profiles" / "demo.yaml"
    return PACKAGED_DEMO
