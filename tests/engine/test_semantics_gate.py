"""Quality gates against the simulator: each check kind passes and fails; the policies retry with feedback,
fall back to the next target, fail the run with the gate's reason, or warn."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.semantics_profile import collect, of
from workbench.engine import Engine
from workbench.profiles.load import loads_profile

FAST = "ttft_ms: 0, tokens_per_s: 100000"


def profile(corpus: Path) -> str:
    return f"""
name: gate-tests
sim: {{seed: 3}}
providers:
  local: {{kind: sim, wire: openai}}
models:
  wordy: {{provider: local, model: sim-wordy, prices: [{{input: 1, output: 2}}], sim: {{{FAST}, answer_tokens: 80}}}}
  terse: {{provider: local, model: sim-terse, prices: [{{input: 1, output: 2}}], sim: {{{FAST}, answer_tokens: 8}}}}
  judge: {{provider: local, model: sim-judge, prices: [{{input: 0.5, output: 1}}], sim: {{{FAST}}}}}
routes:
  retry_then_fallback:
    steps:
      - {{name: answer, targets: [wordy, terse]}}
      - kind: gate
        name: short_enough
        checks: [{{type: length, max_tokens: 30}}]
        on_fail: retry
        max_retries: 1
  fallback:
    steps:
      - {{name: answer, targets: [wordy, terse]}}
      - {{kind: gate, name: short, checks: [{{type: length, max_tokens: 30}}], on_fail: fallback}}
  fail:
    steps:
      - {{name: answer, targets: [terse]}}
      - {{kind: gate, name: no_lighthouse, checks: [{{type: forbids, text: lighthouse}}], on_fail: fail}}
  warn:
    steps:
      - {{name: answer, targets: [terse]}}
      - {{kind: gate, name: no_lighthouse, checks: [{{type: forbids, regex: "light\\\\w+"}}], on_fail: warn}}
  contains:
    steps:
      - {{name: answer, targets: [wordy]}}
      - {{kind: gate, name: mentions, checks: [{{type: contains, text: lighthouse}}, {{type: pii}}]}}
  json:
    steps:
      - {{kind: transform, name: shape, template: '{{ "answer": "{{{{ metadata.answer }}}}", "n": 3 }}'}}
      - kind: gate
        name: valid
        checks:
          - type: json
            schema: {{type: object, required: [answer, n], properties: {{n: {{type: integer, maximum: 5}}}}}}
  pii:
    steps:
      - {{kind: transform, name: leak, template: "write to {{{{ metadata.mail }}}}"}}
      - {{kind: gate, name: clean, checks: [{{type: pii, kinds: [email]}}]}}
  judged:
    steps:
      - {{name: answer, targets: [wordy]}}
      - kind: gate
        name: judged
        checks: [{{type: judge, model: judge, rubric: answers the question, threshold: 0.6}}]
  judged_strict:
    steps:
      - {{name: answer, targets: [wordy]}}
      - {{kind: gate, name: judged, checks: [{{type: judge, model: judge, rubric: perfect, threshold: 0.99}}]}}
  relevant:
    steps:
      - {{kind: retrieve, name: find, corpus: "{corpus}", top_k: 2}}
      - {{kind: gate, name: on_topic, checks: [{{type: relevance, threshold: 0.5}}]}}
      - {{name: answer, targets: [terse], prompt: "{{{{ docs[0].text }}}} {{{{ input }}}}"}}
"""


@pytest.fixture
def loaded(tmp_path: Path):  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lighthouse.md").write_text("# Lighthouses\n\nA lighthouse keeper tends the lamp every night.\n")
    (corpus / "bread.md").write_text("# Bread\n\nSourdough bread needs a starter, flour and water.\n")
    return loads_profile(profile(corpus))


def gate_hops(events):  # type: ignore[no-untyped-def]
    return [(h.check, h.verdict) for h in of(events, "hop_finished", kind="gate") if h.check is not None]


async def test_retry_with_feedback_then_fallback(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "Tell me about the lighthouse keeper", route="retry_then_fallback")
        wordy_last = engine._sim.last_prompt("sim-wordy")  # type: ignore[union-attr]
    policies = [d.data["policy"] for d in of(events, "decision", action="gate")]
    assert policies == ["retry", "fallback"]
    assert "A reviewer rejected the previous answer" in wordy_last.messages[-1]["content"]
    assert "length" in wordy_last.messages[-1]["content"]
    assert gate_hops(events) == [("length", "fail"), ("length", "fail"), ("length", "pass")]
    ok = [h.model for h in of(events, "hop_finished", kind="attempt", status="ok")]
    assert ok == ["wordy", "wordy", "terse"]
    final = events[-1]
    terse_out = of(events, "hop_finished", kind="attempt", model="terse")[0].output
    assert final.status == "ok" and final.output == terse_out
    assert final.cost_usd == sum(h.cost_usd for h in of(events, "hop_finished", kind="attempt"))


async def test_fallback_policy_skips_the_retry(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "Tell me about the lighthouse keeper", route="fallback")
    assert [d.data["policy"] for d in of(events, "decision", action="gate")] == ["fallback"]
    assert [h.model for h in of(events, "hop_finished", kind="attempt", status="ok")] == ["wordy", "terse"]


async def test_fail_policy_ends_the_run_with_the_gates_reason(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "lighthouse", route="fail")
    final = events[-1]
    assert final.status == "error" and "gate 'no_lighthouse' failed" in final.error and "lighthouse" in final.error
    hop = [h for h in of(events, "hop_finished", kind="gate") if h.check is None][0]
    assert hop.error_class == "gate" and hop.verdict == "fail"


async def test_warn_policy_goes_on(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "lighthouse", route="warn")
    assert events[-1].status == "ok"
    assert of(events, "decision", action="gate")[0].data["policy"] == "warn"


async def test_contains_and_pii_pass(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "lighthouse lighthouse keeper", route="contains")
    assert gate_hops(events) == [("contains", "pass"), ("pii", "pass")]


@pytest.mark.parametrize(
    "answer, verdict, detail",
    [("fine", "pass", "valid JSON matching the schema"), ('a"b', "fail", "not JSON")],
)
async def test_json_schema(loaded, answer: str, verdict: str, detail: str) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "x", route="json", metadata={"answer": answer})
    hop = of(events, "hop_finished", kind="gate", check="json")[0]
    assert hop.verdict == verdict and hop.detail.startswith(detail)
    assert events[-1].status == ("ok" if verdict == "pass" else "error")


async def test_pii_gate_finds_an_email(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "x", route="pii", metadata={"mail": "a.b@example.org"})
    hop = of(events, "hop_finished", kind="gate", check="pii")[0]
    assert hop.verdict == "fail" and hop.detail == "found 1 email" and "example" not in events[-1].error


async def test_judge_scores_and_costs(loaded) -> None:
    async with Engine(loaded) as engine:
        good = await collect(engine, "Explain the lighthouse keeper's night", route="judged")
        strict = await collect(engine, "Explain the lighthouse keeper's night", route="judged_strict")
    hop = of(good, "hop_finished", kind="gate", check="judge")[0]
    assert hop.verdict == "pass" and 0.6 <= hop.score <= 0.95
    judge_attempt = of(good, "hop_finished", kind="attempt", role="judge")[0]
    assert judge_attempt.parent_id is not None and judge_attempt.cost_usd > 0
    assert good[-1].cost_usd == sum(h.cost_usd for h in of(good, "hop_finished", kind="attempt"))
    assert strict[-1].status == "error" and "judge score" in strict[-1].error


@pytest.mark.parametrize("prompt, verdict", [("lighthouse keeper lamp", "pass"), ("quantum chromodynamics", "fail")])
async def test_relevance_gate(loaded, prompt: str, verdict: str) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, prompt, route="relevant")
    hop = of(events, "hop_finished", kind="gate", check="relevance")[0]
    assert hop.verdict == verdict
    assert events[-1].status == ("ok" if verdict == "pass" else "error")


def test_relevance_matches_word_forms_not_just_exact_words() -> None:
    from workbench.engine.gate import relevance

    docs = [{"title": "Invoices", "text": "Invoices are issued monthly. Items can be returned within 30 days."}]
    # invoice ~ Invoices, return ~ returned, copy: nowhere -> 2 of 3 words
    assert relevance("Can I return an invoice copy?", docs) == round(2 / 3, 3)
    assert relevance("quantum chromodynamics", docs) == 0.0
