"""v2 profile problems name the exact line: union members (step kinds, gate checks), targets, nested branches,
policy blocks and templates — every problem at once, with "did you mean" hints, and never a traceback."""

from __future__ import annotations

import random

import pytest

from workbench.errors import ProfileError
from workbench.profiles import loads_profile

BASE = """\
version: 2
name: t
providers:
  local:
    kind: sim
models:
  fast:
    provider: local
    model: m-fast
  slow:
    provider: local
    model: m-slow
policies:
  retry:
    max_attempts: 2
routes:
  default:
    timeouts:
      total: 60
    steps:
      - name: pick
        kind: route
        rules:
          - when: {keywords: [hi]}
            branch: a
        default: a
        branches:
          a:
            - name: a0
              targets: [fast]
            - name: a1
              targets:
                - fast
                - model: slow
                  retry: {max_attempts: 3}
      - name: answer
        prompt: "{{ input }}"
        targets: [fast]
"""
LABEL = "p.yaml"


def problems(*edits: tuple[str, str]) -> list[str]:
    text = BASE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    with pytest.raises(ProfileError) as info:
        loads_profile(text, LABEL)
    return info.value.problems


def test_base_is_valid() -> None:
    assert [p for p, _ in loads_profile(BASE).profile.routes["default"].all_steps()] == [
        (0,),
        (0, "branches", "a", 0),
        (0, "branches", "a", 1),
        (1,),
    ]


def test_unknown_step_kind_points_at_kind_with_a_hint() -> None:
    got = problems(("      - name: answer\n", "      - name: answer\n        kind: generat\n"))
    assert got == [
        "p.yaml:37:15: routes.default.steps.1.kind: unknown step kind 'generat' (expected one of: generate, route,"
        " retrieve, gate, parallel, transform; did you mean 'generate'?)"
    ]


def test_route_step_with_two_modes() -> None:
    got = problems(
        ("        default: a\n", "        strong_weak: {threshold: 0.5, strong: a, weak: a}\n        default: a\n")
    )
    assert got == [
        "p.yaml:21:9: routes.default.steps.0: a route step takes exactly one of `rules`, `classifier` or"
        " `strong_weak`; this one has `rules` and `strong_weak`"
    ]


def test_unknown_branch_names_the_rule_and_the_default() -> None:
    got = problems(
        ("            branch: a\n", "            branch: b\n"), ("        default: a\n", "        default: aa\n")
    )
    assert got == [
        "p.yaml:25:21: routes.default.steps.0.rules.0.branch: unknown branch 'b' (expected one of: a)",
        "p.yaml:26:18: routes.default.steps.0.default: unknown branch 'aa' (expected one of: a; did you mean 'a'?)",
    ]


GATE = "      - name: g\n        kind: gate\n        checks:\n          - type: {type}\n            {field}: x\n"


def test_gate_check_of_unknown_type_and_unknown_field() -> None:
    anchor = "      - name: answer\n"
    got = problems((anchor, GATE.format(type="contain", field="text") + anchor))
    assert got == [
        "p.yaml:39:19: routes.default.steps.1.checks.0.type: unknown check type 'contain' (expected one of:"
        " contains, forbids, json, length, relevance, judge, pii; did you mean 'contains'?)"
    ]
    got = problems((anchor, GATE.format(type="contains", field="txt") + anchor))
    assert got == ["p.yaml:40:13: routes.default.steps.1.checks.0.txt: unknown field (did you mean 'text'?)"]


def test_bad_policy_values_name_their_key_line_all_at_once() -> None:
    got = problems(
        ("      total: 60\n", "      total: -1\n"),
        ("    max_attempts: 2\n", "    max_attempts: 10000\n"),
        ("retry: {max_attempts: 3}", "retry: {max_attempts: 3, jiter: full}"),
    )
    assert got == [
        "p.yaml:15:19: policies.retry.max_attempts: expected a number at most 10, got 10000",
        "p.yaml:19:14: routes.default.timeouts.total: expected a number more than 0, got -1",
        "p.yaml:35:44: routes.default.steps.0.branches.a.1.targets.1.retry.jiter: unknown field"
        " (did you mean 'jitter'?)",
    ]


def test_unknown_template_variable_and_unknown_step_in_template() -> None:
    got = problems(('"{{ input }}"', '"{{ inputt }}"'))
    assert got == [
        "p.yaml:37:17: routes.default.steps.1.prompt: template uses unknown name 'inputt' (known: docs, feedback,"
        " history, input, metadata, steps; did you mean 'input'?)"
    ]
    got = problems(('"{{ input }}"', '"{{ steps.nope.output }}"'))
    assert got == [
        "p.yaml:37:17: routes.default.steps.1.prompt: template names step 'nope', which this route does not have"
        " (steps: a0, a1, answer, pick)"
    ]


def test_unknown_model_in_a_nested_branch_target_both_forms() -> None:
    got = problems(("                - model: slow\n", "                - model: slw\n"), ("[fast]\n", "[fsat]\n"))
    assert got == [
        "p.yaml:30:25: routes.default.steps.0.branches.a.0.targets.0: unknown model 'fsat'"
        " (expected one of: fast, slow; did you mean 'fast'?)",
        "p.yaml:34:26: routes.default.steps.0.branches.a.1.targets.1.model: unknown model 'slw'"
        " (expected one of: fast, slow; did you mean 'slow'?)",
    ]


def test_target_of_wrong_type_and_unknown_target_option() -> None:
    got = problems(("                - fast\n", "                - 5\n"), ("  retry: {max", "  retyr: {max"))
    assert got == [
        "p.yaml:33:19: routes.default.steps.0.branches.a.1.targets.0: expected a model alias or a mapping with"
        " `model:` (and options such as `retry:`), got 5",
        "p.yaml:35:19: routes.default.steps.0.branches.a.1.targets.1.retyr: unknown field (did you mean 'retry'?)",
    ]


def test_parallel_step_with_both_targets_and_steps() -> None:
    anchor = "      - name: answer\n"
    par = (
        "      - name: par\n        kind: parallel\n        targets: [fast]\n        steps:\n"
        "          - name: c\n            targets: [fast]\n"
    )
    got = problems((anchor, par + anchor))
    assert got == ["p.yaml:36:9: routes.default.steps.1: a parallel step takes exactly one of `targets` or `steps`"]


def test_mutated_v2_profiles_give_problems_never_a_traceback() -> None:
    """Seeded mutations of the v2 profile (lines dropped, duplicated, swapped, values replaced): each either
    loads or raises ProfileError whose every problem has the FILE:LINE:COL: path: what shape."""
    rng = random.Random(11)
    lines = BASE.splitlines()
    junk = ["-1", "1e999", "[]", "{}", "x", "null", "kind: gate", "type: nope", "- 5", "'{{ nope }}'", "10000"]
    failures = 0
    for _ in range(300):
        mutated = list(lines)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(mutated))
            op = rng.randrange(4)
            if op == 0:
                del mutated[i]
            elif op == 1:
                mutated.insert(i, mutated[rng.randrange(len(mutated))])
            elif op == 2 and ":" in mutated[i]:
                key = mutated[i].split(":", 1)[0]
                mutated[i] = f"{key}: {rng.choice(junk)}"
            else:
                j = rng.randrange(len(mutated))
                mutated[i], mutated[j] = mutated[j], mutated[i]
        try:
            loads_profile("\n".join(mutated) + "\n", LABEL)
        except ProfileError as err:
            failures += 1
            assert err.problems
            for p in err.problems:
                assert p.startswith("p.yaml:") and p.count(":") >= 4, p
                assert "input tag" not in p and "Traceback" not in p, p
    assert failures > 100
