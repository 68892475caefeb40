"""The shipped demo's orchestration routes, offline against the simulator (loaded from the packaged copy, so the
corpus must resolve from inside the package): support sends a factual question, a sentiment and a complaint to
three branches; code sends a completion and a multi-file refactor to different models; shop fans out and merges;
risk follows the request's metadata and falls back when the primary is down."""

from __future__ import annotations

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
