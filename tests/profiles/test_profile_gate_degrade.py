"""A gate's fallback path in the profile: `on_fail: degrade` with `degrade: {branch, note}` loads, `profile
check` refuses a branch the gate cannot reach (with its line), and `profile explain` / `routes` show the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import ProfileError
from workbench.profiles import load_profile

PROFILE = """\
version: 2
providers:
  local: {kind: sim}
models:
  m: {provider: local, model: sim-m}
routes:
  support:
    steps:
      - kind: route
        name: triage
        rules: [{when: {keywords: [angry]}, branch: complaint}]
        default: factual
        branches:
          factual:
            - kind: gate
              name: grounded
              checks: [{type: length, max_chars: 400}]
              on_fail: degrade
              degrade:
                branch: general
                note: no note covers this
            - {name: answer, targets: [m]}
          general:
            - {name: plain, targets: [m]}
          complaint:
            - {name: escalate, targets: [m]}
"""


def workbench(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        cwd=tmp_path,
        env=dict(os.environ, COLUMNS="160"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return [p.replace(str(path), "p.yaml") for p in info.value.problems]


def test_check_accepts_a_fallback_branch(tmp_path: Path) -> None:
    result = workbench(tmp_path, PROFILE, "profile", "check", "p.yaml")
    assert result.returncode == 0, result.stderr
    gate = load_profile(tmp_path / "p.yaml").profile.routes["support"].steps[0].branches["factual"][0]
    assert gate.on_fail == "degrade" and gate.degrade.branch == "general" and gate.degrade.note == "no note covers this"


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            "branch: general",
            "branch: nowhere",
            "p.yaml:20:25: routes.support.steps.0.branches.factual.0.degrade.branch: unknown branch 'nowhere'"
            " (other branches of route step 'triage': general, complaint)",
        ),
        (
            "branch: general",
            "branch: factual",
            "p.yaml:20:25: routes.support.steps.0.branches.factual.0.degrade.branch: 'factual' is the branch this"
            " gate is in: falling back to it would loop",
        ),
        (
            "on_fail: degrade",
            "on_fail: warn",
            "p.yaml:15:15: routes.support.steps.0.branches.factual.0: `degrade` is only used with"
            " `on_fail: degrade` (this gate has `on_fail: warn`)",
        ),
    ],
)
def test_check_refuses_a_fallback_the_gate_cannot_take(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert problems(tmp_path, PROFILE.replace(old, new, 1)) == [expected]


def test_a_gate_outside_any_branch_has_no_branch_to_fall_back_to(tmp_path: Path) -> None:
    text = """\
version: 2
providers: {local: {kind: sim}}
models: {m: {provider: local, model: sim-m}}
routes:
  r:
    steps:
      - {name: a, targets: [m]}
      - {kind: gate, name: g, checks: [{type: pii}], on_fail: degrade, degrade: {branch: x}}
"""
    result = workbench(tmp_path, text, "profile", "check", "p.yaml")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        "p.yaml:8:90: routes.r.steps.1.degrade.branch: this gate is not inside a route step's branch, so it has no"
        " branch 'x' to fall back to" in result.stderr
    )
    # without a branch it is fine: the run goes on with the next step
    assert workbench(tmp_path, text.replace(", degrade: {branch: x}", ""), "profile", "check", "p.yaml").returncode == 0


def test_explain_and_routes_show_the_fallback_path(tmp_path: Path) -> None:
    result = workbench(tmp_path, PROFILE, "profile", "explain", "p.yaml", "--route", "support", "--json")
    assert result.returncode == 0, result.stderr
    (gate,) = [e for e in json.loads(result.stdout)["entries"] if e["kind"] == "gate"]
    policy = gate["policy"]
    at = "routes.support.steps.0.branches.factual.0"
    assert policy["on_fail"] == {"value": "degrade", "origin": f"{at}.on_fail", "at": "p.yaml:18:15"}
    assert policy["degrade.branch"] == {"value": "general", "origin": f"{at}.degrade.branch", "at": "p.yaml:20:17"}
    assert policy["degrade.note"] == {
        "value": "no note covers this",
        "origin": f"{at}.degrade.note",
        "at": "p.yaml:21:17",
    }
    table = workbench(tmp_path, PROFILE, "profile", "explain", "p.yaml", "--route", "support").stdout
    row = next(line for line in table.splitlines() if "degrade.branch" in line)
    assert row.split()[:3] == ["degrade.branch", "general", "p.yaml:20:17"]
    tree = workbench(tmp_path, PROFILE, "routes", "--profile", "p.yaml", "--route", "support").stdout
    assert "grounded (gate) length; on fail: degrade → branch general" in tree
    assert "branch general (fallback of gate grounded)" in tree
