"""The headless layers stay headless: importing them pulls in neither Textual nor SQL (harlequin's check)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN_UI = ("textual", "workbench.tui")
FORBIDDEN_SQL = ("sqlite3", "sqlite_utils", "workbench.store")

CASES = {
    "workbench.engine": FORBIDDEN_UI + FORBIDDEN_SQL,
    "workbench.engine.run": FORBIDDEN_UI + FORBIDDEN_SQL,
    "workbench.providers.registry": FORBIDDEN_UI + FORBIDDEN_SQL,
    "workbench.sim.server": FORBIDDEN_UI + FORBIDDEN_SQL,
    "workbench.profiles.load": FORBIDDEN_UI + FORBIDDEN_SQL,
    "workbench.accounting": FORBIDDEN_UI + FORBIDDEN_SQL,
    "workbench.store": FORBIDDEN_UI,
    # the retrieval index is SQL (FTS5) by design; the engine imports it lazily, inside the retrieve executor
    "workbench.retrieval": FORBIDDEN_UI,
    "workbench.engine.executors": FORBIDDEN_UI + FORBIDDEN_SQL,
}


@pytest.mark.parametrize("module", sorted(CASES))
def test_layer_imports_stay_in_their_lane(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    leaked = sorted(m for m in loaded for f in CASES[module] if m == f or m.startswith(f + "."))
    assert not leaked, f"{module} imports {leaked}"
