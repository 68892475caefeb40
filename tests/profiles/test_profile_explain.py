"""`workbench profile explain FILE --route R`: the policy in force for every step and target, and the line each
value comes from — profile, route, step (outer steps first), target, a provider's timeouts, or the default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROFILE = """\
version: 2
providers:
  local:
    kind: sim
    timeouts: {first_token: 7}
models:
  fast:
    provider: local
    model: m-fast
  thinker:
    provider: local
    model: m-think
    reasoning: true
policies:
  retry:
    max_attempts: 3
    jitter: none
routes:
  default:
    retry:
      backoff_base_s: 0.5
    steps:
      - name: pick
        kind: route
        rules:
          - when: {keywords: [hard]}
            branch: deep
        default: deep
        timeouts:
          idle: 9
        branches:
          deep:
            - name: think
              retry:
                max_attempts: 4
              targets:
                - thinker
                - model: fast
                  retry: {max_attempts: 1}
                  timeouts: {total: 20}
"""


def explain(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "p.yaml").write_text(PROFILE, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "workbench", "profile", "explain", "p.yaml", *args],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_explain_json_gives_every_value_its_origin_line(tmp_path: Path) -> None:
    result = explain(tmp_path, "--route", "default", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["route"] == "default"
    shape = [(e["step"], e["name"], e["target"]) for e in report["entries"]]
    assert shape == [
        ("steps.0", "pick", None),
        ("steps.0.branches.deep.0", "think", {"index": 0, "model": "thinker"}),
        ("steps.0.branches.deep.0", "think", {"index": 1, "model": "fast"}),
    ]

    def cell(entry: int, key: str) -> tuple[object, str, str | None]:
        item = report["entries"][entry]["policy"][key]
        return item["value"], item["origin"], item["at"]

    # the route step: profile < route < step
    assert cell(0, "retry.max_attempts") == (3, "policies.retry.max_attempts", "p.yaml:16:5")
    assert cell(0, "retry.jitter") == ("none", "policies.retry.jitter", "p.yaml:17:5")
    assert cell(0, "retry.backoff_base_s") == (0.5, "routes.default.retry.backoff_base_s", "p.yaml:21:7")
    assert cell(0, "timeouts.idle") == (9, "routes.default.steps.0.timeouts.idle", "p.yaml:30:11")
    assert cell(0, "retry.backoff_cap_s") == (8.0, "default", None)
    # a branch step inherits its enclosing route step's timeouts, sets its own retry
    assert cell(1, "timeouts.idle") == (9, "routes.default.steps.0.timeouts.idle", "p.yaml:30:11")
    assert cell(1, "retry.max_attempts") == (
        4,
        "routes.default.steps.0.branches.deep.0.retry.max_attempts",
        "p.yaml:35:17",
    )
    # the reasoning target: the provider's first_token beats the reasoning default
    assert cell(1, "timeouts.first_token") == (7, "providers.local.timeouts.first_token", "p.yaml:5:16")
    assert cell(1, "timeouts.total") == (300.0, "default", None)
    # the object target wins over every level, field by field
    assert cell(2, "retry.max_attempts") == (
        1,
        "routes.default.steps.0.branches.deep.0.targets.1.retry.max_attempts",
        "p.yaml:39:27",
    )
    assert cell(2, "timeouts.total") == (
        20,
        "routes.default.steps.0.branches.deep.0.targets.1.timeouts.total",
        "p.yaml:40:30",
    )
    assert cell(2, "retry.backoff_base_s") == (0.5, "routes.default.retry.backoff_base_s", "p.yaml:21:7")


def test_explain_tables_and_unknown_route(tmp_path: Path) -> None:
    result = explain(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("steps.0.branches.deep.0 think (generate) · target 1: fast") for line in lines)
    row = next(line for line in lines if "p.yaml:40:30" in line)
    assert row.split()[:2] == ["timeouts.total", "20.0"]
    bad = explain(tmp_path, "--route", "nope")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "unknown route 'nope'" in bad.stderr and "default" in bad.stderr
