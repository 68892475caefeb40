"""Profile regexes under a time limit (issue 20 item 4, regex part): a route rule's or a gate check's pattern that
backtracks catastrophically on some input held the event loop (and Ctrl-C) for 30-60 s with Python's `re`. Now
patterns run on the `regex` package with a timeout: a runaway search stops in well under a second as a step error
of class `pattern`, the run is saved as `error`; a pattern that does not compile is a profile error at load."""

from __future__ import annotations

import time
from typing import Any

import pytest

from workbench.engine import Engine
from workbench.errors import ProfileError
from workbench.profiles.load import loads_profile
from workbench.profiles.patterns import PATTERN_SECONDS

ISSUE_PATTERN = r"^(\w+\s?)+$"  # the issue's example: 30-60 s on "word " * 30 + "!" with `re`
ISSUE_INPUT = "word " * 30 + "!"
RUNAWAY = r"(a|aa)+$"  # exponential in the `regex` package too: the time limit has to stop it
RUNAWAY_INPUT = "a" * 60 + "!"

PROFILE = """
providers: {{sim: {{kind: sim}}}}
models: {{m: {{provider: sim, model: sim-m, free: true}}}}
routes:
  rules:
    steps:
      - kind: route
        name: pick
        rules:
          - {{when: {{keywords: [refund]}}, branch: money}}
          - {{when: {{regex: '{rule}'}}, branch: words}}
        default: other
        branches:
          money: [{{name: m1, targets: [m]}}]
          words: [{{name: w1, targets: [m]}}]
          other: [{{name: o1, targets: [m]}}]
  gated:
    steps:
      - {{kind: transform, name: t, template: "{{{{ input }}}}"}}
      - kind: gate
        name: g
        of: t
        on_fail: retry
        checks: [{{type: forbids, regex: '{check}'}}]
"""


async def _run(sim: Any, route: str, prompt: str, *, rule: str = "x", check: str = "x") -> tuple[list[Any], float]:
    loaded = loads_profile(PROFILE.format(rule=rule, check=check), "patterns.yaml")
    t0 = time.monotonic()
    async with Engine(loaded, sim_server=sim) as engine:
        events = [e async for e in engine.run(prompt, route=route)]
    return events, time.monotonic() - t0


async def test_the_issues_pattern_is_evaluated_at_once(sim: Any) -> None:
    events, took = await _run(sim, "rules", ISSUE_INPUT, rule=ISSUE_PATTERN)
    assert took < 10, took
    branch = [e for e in events if e.type == "decision" and e.action == "branch"]
    assert branch[0].target == "other" and events[-1].status == "ok"  # no match (the "!"), the default branch
    events, _ = await _run(sim, "rules", "word " * 30, rule=ISSUE_PATTERN)
    assert [e.target for e in events if e.type == "decision" and e.action == "branch"] == ["words"]


async def test_a_runaway_rule_regex_is_stopped_as_a_pattern_error(sim: Any) -> None:
    events, took = await _run(sim, "rules", RUNAWAY_INPUT, rule=RUNAWAY)
    assert took < PATTERN_SECONDS + 10, took  # the limit, plus a loaded machine's slack; not minutes
    hop = [e for e in events if e.type == "hop_finished" and e.kind == "route"][0]
    assert hop.status == "error" and hop.error_class == "pattern"
    assert hop.error.startswith("route step 'pick', rule 2: the regex /(a|aa)+$/ took longer than 0.5 s")
    assert events[-1].type == "run_finished" and events[-1].status == "error" and events[-1].error == hop.error
    assert not [e for e in events if e.type == "hop_started" and e.kind == "attempt"]  # no branch ran


async def test_a_runaway_gate_regex_fails_the_gate_without_a_retry(sim: Any) -> None:
    events, took = await _run(sim, "gated", RUNAWAY_INPUT, check=RUNAWAY)
    assert took < PATTERN_SECONDS + 10, took
    gates = [e for e in events if e.type == "hop_finished" and e.kind == "gate"]
    assert [(g.name, g.status, g.error_class) for g in gates] == [
        ("forbids", "error", "pattern"),
        ("g", "error", "pattern"),
    ]
    assert "gate 'g', check 'forbids': the regex /(a|aa)+$/ took longer than" in gates[-1].error
    assert events[-1].status == "error" and not [e for e in events if e.type == "hop_started" and e.kind == "attempt"]


@pytest.mark.parametrize(
    ("rule", "check", "where"),
    [
        (
            "(unclosed",
            "x",
            "patterns.yaml:11:28: routes.rules.steps.0.rules.1.when.regex: not a valid regular expression: missing )",
        ),
        (
            "x",
            "a{2,1}",
            "patterns.yaml:24:41: routes.gated.steps.1.checks.0.regex: not a valid regular expression: min repeat"
            " greater than max repeat",
        ),
    ],
)
def test_a_pattern_that_does_not_compile_is_a_profile_error(rule: str, check: str, where: str) -> None:
    with pytest.raises(ProfileError) as err:
        loads_profile(PROFILE.format(rule=rule, check=check), "patterns.yaml")
    assert len(err.value.problems) == 1 and err.value.problems[0].startswith(where), err.value.problems
