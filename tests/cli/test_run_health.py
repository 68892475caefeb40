"""`workbench run --health`: the targets' health as JSON on stderr at the end, events on stdout untouched."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_run_cli import DEMO, events_of, workbench


def test_health_flag_prints_the_snapshot_to_stderr(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    proc = workbench("run", "--profile", str(DEMO), "--route", "fallback", "--json", "--health", "--db", str(db), "hi")
    assert proc.returncode == 0, proc.stderr
    assert all(e["type"] != "health" for e in events_of(proc.stdout))  # events stay the contract
    snapshot = json.loads(proc.stderr[proc.stderr.index("{") :])["health"]
    down, up = snapshot["sim-openai/sim-outage"], snapshot["sim-openai/sim-steady"]
    assert (down["state"], down["failures"], down["calls"], down["errors"], down["error_rate"]) == (
        "closed",
        1,
        1,
        1,
        1.0,
    )
    assert (up["state"], up["errors"], up["in_flight"]) == ("closed", 0, 0)
    assert up["ewma_latency_ms"] > 0
