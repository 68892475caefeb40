"""A gate's fallback path (`on_fail: degrade`) against the simulator: a failed gate hands the run to another
branch of the route step it sits in (or goes on with the next step), a decision says why, and the run ends
`degraded` with an answer instead of `error`. A fallback that would loop fails the run; a later failure still
ends it in error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.semantics_profile import collect, of
from workbench.engine import Engine
from workbench.profiles.load import loads_profile

FAST = "ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 12"


def profile(corpus: Path) -> str:
    models = "\n".join(
        f"  {m}: {{provider: local, model: sim-{m}, prices: [{{input: 1, output: 2}}], sim: {{{FAST}}}}}"
        for m in ("grounded", "plain", "lead", "last")
    )
    return f"""
name: degrade-tests
sim: {{seed: 3}}
providers:
  local: {{kind: sim, wire: openai}}
models:
{models}
  down:
    provider: local
    model: sim-down
    prices: [{{input: 1, output: 2}}]
    sim: {{{FAST}, faults: [{{kind: http_500, rate: 1.0}}]}}
routes:
  to_branch:
    steps:
      - kind: route
        name: triage
        rules: [{{when: {{keywords: [angry]}}, branch: complaint}}]
        default: factual
        branches:
          factual:
            - {{kind: retrieve, name: find, corpus: "{corpus}", top_k: 2}}
            - kind: gate
              name: on_topic
              checks: [{{type: relevance, threshold: 0.5}}]
              on_fail: degrade
              degrade: {{branch: general, note: no note covers this question}}
            - {{name: answer, targets: [grounded], prompt: "{{{{ docs[0].text }}}} {{{{ input }}}}"}}
          general:
            - {{name: general_answer, targets: [plain], system: "No notes matched ({{{{ feedback }}}}). Say so."}}
          complaint:
            - {{name: escalate, targets: [lead]}}
      - {{name: polish, targets: [last]}}
  go_on:
    steps:
      - {{kind: retrieve, name: find, corpus: "{corpus}", top_k: 2}}
      - {{kind: gate, name: on_topic, checks: [{{type: relevance, threshold: 0.5}}], on_fail: degrade}}
      - {{name: answer, targets: [plain]}}
  nested:
    steps:
      - kind: route
        name: outer
        rules: [{{when: {{keywords: [never]}}, branch: rescue}}]
        default: inner
        branches:
          inner:
            - kind: route
              name: deeper
              rules: [{{when: {{keywords: [never]}}, branch: other}}]
              default: x
              branches:
                x:
                  - kind: gate
                    name: tiny
                    checks: [{{type: length, max_chars: 3}}]
                    on_fail: degrade
                    degrade: {{branch: rescue}}
                  - {{name: x_answer, targets: [grounded]}}
                other:
                  - {{name: other_answer, targets: [grounded]}}
            - {{name: after_deeper, targets: [grounded]}}
          rescue:
            - {{name: rescued, targets: [plain]}}
      - {{name: polish, targets: [last]}}
  loop:
    steps:
      - kind: route
        name: pick
        rules: [{{when: {{keywords: [never]}}, branch: b}}]
        default: a
        branches:
          a:
            - {{kind: gate, name: gate_a, checks: [{{type: length, max_chars: 3}}], on_fail: degrade, degrade: {{branch: b}}}}
          b:
            - {{kind: gate, name: gate_b, checks: [{{type: length, max_chars: 3}}], on_fail: degrade, degrade: {{branch: a}}}}
  error_wins:
    steps:
      - {{kind: gate, name: tiny, checks: [{{type: length, max_chars: 3}}], on_fail: degrade}}
      - {{name: answer, targets: [down], retry: {{max_attempts: 1}}}}
"""


@pytest.fixture
def loaded(tmp_path: Path):  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lighthouse.md").write_text("# Lighthouses\n\nA lighthouse keeper tends the lamp every night.\n")
    (corpus / "bread.md").write_text("# Bread\n\nSourdough bread needs a starter, flour and water.\n")
    return loads_profile(profile(corpus))


def answered(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.model for h in of(events, "hop_finished", kind="attempt", status="ok")]


async def test_a_failed_gate_takes_its_fallback_branch_and_the_run_ends_degraded(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "quantum chromodynamics", route="to_branch")
        plain = engine._sim.last_prompt("sim-plain")  # type: ignore[union-attr]
    (decision,) = of(events, "decision", action="gate")
    assert decision.data["policy"] == "degrade" and decision.target == "general"
    assert decision.data["note"] == "no note covers this question"
    assert "relevance" in decision.reason and "no note covers this question" in decision.reason
    # the rest of the factual branch gives way to `general`; the step after the route step still runs
    assert answered(events) == ["plain", "last"]
    final = events[-1]
    last_out = of(events, "hop_finished", kind="attempt", model="last")[0].output
    assert final.status == "degraded" and final.error is None
    assert final.reason == "no note covers this question"
    assert final.output == last_out and final.output
    # the failed checks are the fallback step's `feedback`
    assert "documents cover 0%" in plain.messages[0]["content"]
    gate = [h for h in of(events, "hop_finished", kind="gate") if h.check is None][0]
    assert gate.status == "ok" and gate.verdict == "fail" and gate.data["policy"] == "degrade"


async def test_a_passing_gate_keeps_the_grounded_path(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "lighthouse keeper lamp", route="to_branch")
    assert answered(events) == ["grounded", "last"]
    assert events[-1].status == "ok" and events[-1].reason is None
    assert not of(events, "decision", action="gate")


async def test_without_a_branch_the_run_goes_on_and_ends_degraded(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "quantum chromodynamics", route="go_on")
    (decision,) = of(events, "decision", action="gate")
    assert decision.data["policy"] == "degrade" and decision.target is None and "next step" in decision.reason
    final = events[-1]
    assert answered(events) == ["plain"] and final.status == "degraded" and final.output
    assert final.reason.startswith("gate 'on_topic' failed: relevance: documents cover 0%")


async def test_a_fallback_to_an_outer_branch_drops_the_rest_of_every_inner_branch(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "a request longer than three characters", route="nested")
    assert of(events, "decision", action="gate")[0].target == "rescue"
    assert answered(events) == ["plain", "last"]  # not x_answer, not after_deeper
    assert events[-1].status == "degraded"


async def test_a_fallback_that_would_loop_fails_the_run(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "a request longer than three characters", route="loop")
    policies = [(d.hop_id is not None, d.data["policy"], d.target) for d in of(events, "decision", action="gate")]
    assert policies == [(True, "degrade", "b"), (True, "degrade", "a"), (True, "degrade (a fallback loop)", None)]
    final = events[-1]
    assert final.status == "error" and "gate 'gate_a' failed" in final.error


async def test_a_later_failure_still_ends_the_run_in_error(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "a request longer than three characters", route="error_wins")
    assert of(events, "decision", action="gate")[0].data["policy"] == "degrade"
    assert events[-1].status == "error"
