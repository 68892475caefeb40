"""`workbench tune`: a sweep marks the Pareto front, and --apply writes the value keeping every comment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_eval import CASES, PROFILE

from workbench.eval.tune import pareto
from workbench.profiles.load import load_profile


def test_pareto_front_by_hand() -> None:
    pts = [
        {"value": "a", "pass_rate": 0.9, "cost_mean_usd": "0.002", "latency_p50_ms": 100.0},
        {"value": "b", "pass_rate": 0.8, "cost_mean_usd": "0.001", "latency_p50_ms": 100.0},  # cheaper: front
        {"value": "c", "pass_rate": 0.8, "cost_mean_usd": "0.003", "latency_p50_ms": 100.0},  # worse than a on all
        {"value": "d", "pass_rate": 0.7, "cost_mean_usd": "0.003", "latency_p50_ms": 50.0},  # fastest: front
    ]
    pareto(pts)
    assert [p["front"] for p in pts] == [True, True, False, True]


def test_tune_sweeps_and_applies_keeping_comments(tmp_path: Path) -> None:
    prof = tmp_path / "p.yaml"
    commented = "# top comment stays\n" + PROFILE.replace("SEED", "3").replace(
        "  terse: {steps: [{name: a, targets: [short]}]}",
        "  # the route we tune\n  terse: {steps: [{name: a, targets: [short]}]}",
    )
    prof.write_text(commented)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(c) + "\n" for c in CASES))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "tune",
            "--profile",
            str(prof),
            "--dataset",
            str(data),
            "--route",
            "terse",
            "--param",
            "steps.0.targets",
            "--values",
            "[short];[long]",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    points = json.loads(proc.stdout)["points"]
    assert [(p["value"], p["passed"], p["front"]) for p in points] == [(["short"], 8, True), (["long"], 2, False)]
    assert prof.read_text() == commented  # a sweep never writes
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "tune",
            "--profile",
            str(prof),
            "--dataset",
            str(data),
            "--route",
            "terse",
            "--param",
            "steps.0.targets",
            "--values",
            "[short]",
            "--apply",
            "[long]",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    text = prof.read_text()
    assert text.startswith("# top comment stays\n") and "  # the route we tune\n" in text
    line = next(ln for ln in text.splitlines() if "terse:" in ln and "steps" in ln)
    assert "targets: [long]" in line and "# tuned by workbench tune (sweep " in line and "pass 20%" in line
    assert load_profile(prof).profile.routes["terse"].steps[0].targets[0].model == "long"
    assert sum(1 for a, b in zip(commented.splitlines(), text.splitlines(), strict=True) if a != b) == 1
