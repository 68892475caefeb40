"""The headless layers stay headless: importing them pulls in neither Textual nor SQL (harlequin's check).

Every module of every headless package is imported (in a fresh interpreter per package), so a new module that
reaches for the TUI or the database is caught the day it is added.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import workbench

FORBIDDEN_UI = ("textual", "workbench.tui")
FORBIDDEN_SQL = ("sqlite3", "sqlite_utils", "workbench.store")
HEADLESS = ("engine", "providers", "sim", "profiles", "accounting", "tokens", "roles", "plugins", "gates", "tools")

CASES: dict[str, tuple[str, ...]] = {f"workbench.{name}": FORBIDDEN_UI + FORBIDDEN_SQL for name in HEADLESS}
CASES["workbench.store"] = FORBIDDEN_UI
# the retrieval index is SQL (FTS5) by design; the engine imports it lazily, inside the retrieve executor
CASES["workbench.retrieval"] = FORBIDDEN_UI
# evaluation, export and traces read and write the store, and never the UI
SQL_ALLOWED = ("store", "retrieval", "eval", "export", "otel")
for _name in SQL_ALLOWED:
    CASES[f"workbench.{_name}"] = FORBIDDEN_UI


def modules_of(package: str) -> list[str]:
    """The package itself and every module in it (tokens is a single module)."""
    path = Path(workbench.__file__).parent / package.split(".", 1)[1]
    if not path.is_dir():
        return [package]
    return [package] + [m.name for m in pkgutil.walk_packages([str(path)], prefix=f"{package}.")]


def test_every_headless_package_is_covered() -> None:
    top = {m.name for m in pkgutil.iter_modules([str(Path(workbench.__file__).parent)])}
    assert top - set(HEADLESS) - set(SQL_ALLOWED) == {"cli", "tui", "data", "errors", "locations", "__main__"}
    assert len(modules_of("workbench.engine")) > 5 and modules_of("workbench.tokens") == ["workbench.tokens"]


@pytest.mark.parametrize("package", sorted(CASES))
def test_layer_imports_stay_in_their_lane(package: str) -> None:
    modules = modules_of(package)
    code = f"import json, sys; import {', '.join(modules)}; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    leaked = sorted(m for m in loaded for f in CASES[package] if m == f or m.startswith(f + "."))
    assert not leaked, f"{package} ({len(modules)} modules) imports {leaked}"


# The engine knows provider kinds only through their plugins (workbench/providers/plugin.py): it imports no wire
# format (an adapter, a simulator writer) and not the simulator, at start-up or later (issue 21 item 3).
WIRE_AND_SIM = ("workbench.sim", "workbench.providers.openai_compat", "workbench.providers.anthropic", "aiohttp")
ENGINE_MAY_IMPORT_FROM_PROVIDERS = {"base", "content", "errors", "faults", "plugin", "registry"}  # contract, not wire


def test_importing_the_engine_loads_no_wire_format_and_not_the_simulator() -> None:
    modules = modules_of("workbench.engine")
    code = f"import json, sys; import {', '.join(modules)}; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    # (the simulator's dials, `workbench.sim.behaviour`, are part of the profile format: the profile models use them)
    leaked = sorted(
        m
        for m in loaded
        for f in WIRE_AND_SIM
        if (m == f or m.startswith(f + ".")) and m not in ("workbench.sim", "workbench.sim.behaviour")
    )
    assert not leaked, f"importing the engine loads {leaked}"


def test_the_engine_has_no_import_statement_of_a_wire_format_or_the_simulator() -> None:
    """Lazy imports too (inside functions, under TYPE_CHECKING): every import statement in workbench/engine."""
    found = []
    for path in sorted((Path(workbench.__file__).parent / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                bad = name.startswith("workbench.sim") or parts[0] == "aiohttp"
                if parts[:2] == ["workbench", "providers"] and len(parts) > 2:
                    bad = bad or parts[2] not in ENGINE_MAY_IMPORT_FROM_PROVIDERS
                if bad:
                    found.append(f"{path.name}:{node.lineno}: {name}")
    assert not found, found
