"""The shipped demo's orchestration routes, offline against the simulator (loaded from the packaged copy, so the
corpus must resolve from inside the package): support sends a factual question, a sentiment and a complaint to
three branches; code sends a completion and a multi-file refactor to different models; shop fans out and merges;
risk follows the request's metadata and falls back when the primary is down."""

from __future__ import annotations

import asyncio
import filecmp
from pathlib import Path

import pytest

from tests.engine.semantics_profile import collect, of
from workbench.engine import Engine
from workbench.locations import PACKAGED_DEMO
from workbench.profiles.load import load_profile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():  # type: ignore[no-untyped-def]
    return load_profile(PACKAGED_DEMO)


def answered(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.model for h in of(events, "hop_finished", kind="attempt", status="ok") if h.role is None]


def test_packaged_corpus_matches_the_repository() -> None:
    for sub in ("support", "code"):
        cmp = filecmp.dircmp(REPO / "profiles" / "corpus" / sub, PACKAGED_DEMO.parent / "corpus" / sub)
        assert not (cmp.left_only or cmp.right_only or cmp.diff_files), "run `make sync-demo`"


async def test_support_sends_three_kinds_of_request_to_three_branches(demo) -> None:
    prompts = {
        "factual": "How do I reset my password?",
        "sentiment": "I love the new dark mode, great job!",
        "complaint": "This is the third time my order arrived broken! I was charged twice, nobody answers, and I"
        " want a refund now. Why is this still not fixed?",
    }
    seen: dict[str, list[str]] = {}
    async with Engine(demo) as engine:
        for label, prompt in prompts.items():
            events = await collect(engine, prompt, route="support")
            branch = of(events, "decision", action="branch")[0]
            assert branch.target == label and branch.data["label"] == label and "classifier" in branch.reason
            assert events[-1].status == "ok"
            seen[label] = answered(events)
            if label == "factual":
                docs = of(events, "hop_finished", kind="retrieve")[0].data["docs"]
                assert docs[0]["id"].startswith("passwords.md")
                gate = of(events, "hop_finished", kind="gate", check="relevance")[0]
                assert gate.verdict == "pass"
    assert seen == {"factual": ["steady"], "sentiment": ["sorter"], "complaint": ["sage"]}


# Ordinary customer messages, each with the branch a support agent would pick; None where either of two would do
# (a vague message) — every one must still get an answer.
EVERYDAY = [
    ("hello", "greeting"),
    ("Hi there!", "greeting"),
    ("Good morning", "greeting"),
    ("Bye!", "greeting"),
    ("Thank you!", "sentiment"),
    ("Thanks a lot, that solved it.", "sentiment"),
    ("I love how fast the delivery was, thank you so much!", "sentiment"),
    ("You guys are awesome", "sentiment"),
    ("My package still hasn't arrived and it's been two weeks. This is unacceptable!", "complaint"),
    ("I was charged twice for the same order and nobody answers my emails.", "complaint"),
    ("The item arrived broken, I want a refund now.", "complaint"),
    ("Where is my parcel? It's late.", "factual"),
    ("How long does a refund take?", "factual"),
    ("Can I return shoes I bought last month?", "factual"),
    ("How do I change my email address?", "factual"),
    ("I can't log in to my account", "factual"),
    ("How much does the Team plan cost?", "factual"),
    ("Where can I download my invoice?", "factual"),
    ("Is there a student discount?", "factual"),
    ("What's the weather like in Paris tomorrow?", None),
    ("Can you recommend a good pizza place?", None),
    ("asdfgh", None),
]


async def test_everyday_messages_get_an_answer_on_a_sensible_branch(demo) -> None:
    async with Engine(demo) as engine:
        runs = await asyncio.gather(*(collect(engine, m, route="support") for m, _ in EVERYDAY))
    for (message, branch), events in zip(EVERYDAY, runs, strict=True):
        final = events[-1]
        chosen = of(events, "decision", action="branch")[0].target
        assert final.status in ("ok", "degraded") and final.output.strip(), (message, final.status, final.error)
        if branch is not None:
            assert chosen == branch, (message, chosen)
        if final.status == "degraded":  # only ever the gate's fallback path, and it says so
            (gate,) = of(events, "decision", action="gate")
            assert gate.data["policy"] == "degrade" and gate.target == "general"
            assert final.reason == gate.data["note"] and "without the notes" in final.reason


async def test_a_question_no_note_covers_is_answered_without_the_notes_and_says_so(demo) -> None:
    async with Engine(demo) as engine:
        events = await collect(engine, "Where is my parcel? It's late.", route="support")
    assert of(events, "hop_finished", kind="gate", check="relevance")[0].verdict == "fail"
    (gate,) = of(events, "decision", action="gate")
    assert gate.target == "general" and "no help-centre note covers this question" in gate.reason
    assert answered(events) == ["steady"]  # general_answer's first target; the grounded `answer` step never ran
    assert [h.name for h in of(events, "hop_finished", kind="step")] == ["triage.classifier", "general_answer"]
    final = events[-1]
    assert final.status == "degraded" and final.output and final.error is None


async def test_code_routes_completion_and_refactor_to_different_models(demo) -> None:
    async with Engine(demo) as engine:
        simple = await collect(engine, "complete this line: total = sum(", route="code")
        hard = await collect(
            engine, "refactor these three files: api.py, db.py and cache.py so they share one pool", route="code"
        )
    assert answered(simple) == ["swift"] or answered(simple) == ["steady"]  # swift fails 30% by design
    assert answered(hard) == ["thinker"]
    assert of(hard, "decision", action="branch")[0].data["features"]["files"] == ["api.py", "cache.py", "db.py"]


async def test_shop_fans_out_and_merges(demo) -> None:
    async with Engine(demo) as engine:
        events = await collect(engine, "Sony WH-1000XM5 headphones", route="shop")
    merge = of(events, "decision", action="merge")[0]
    assert merge.data["chosen"] == ["specs", "reviews", "prices"]
    final_prompt_hop = of(events, "hop_finished", kind="step", name="answer")[0]
    assert final_prompt_hop.status == "ok" and events[-1].status == "ok"


async def test_risk_follows_metadata_and_availability(demo) -> None:
    async with Engine(demo) as engine:
        high = await collect(engine, "charge 4000 EUR", route="risk", metadata={"risk": "high"})
        low = await collect(engine, "charge 4 EUR", route="risk", metadata={"risk": "low"})
    assert of(high, "decision", action="branch")[0].target == "high"
    assert of(high, "decision", action="fallback")[0].target == "sage" and answered(high) == ["sage"]
    assert of(low, "decision", action="branch")[0].target == "low"
