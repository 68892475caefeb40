"""Routing steps against the simulator: a classifier's label picks the branch, a garbage label falls to the
default, rules match metadata/keywords/token counts, strong/weak compares a difficulty score to a threshold."""

from __future__ import annotations

import pytest

from tests.engine.semantics_profile import PROFILE, collect, of
from workbench.engine import Engine
from workbench.engine.route_step import difficulty, parse_label
from workbench.profiles.load import loads_profile


@pytest.fixture
def loaded():  # type: ignore[no-untyped-def]
    return loads_profile(PROFILE)


def answered_by(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.model for h in of(events, "hop_finished", kind="attempt", status="ok") if h.role is None]


@pytest.mark.parametrize(
    "prompt, branch, model",
    [
        ("I was charged twice on my invoice, I need a refund of the payment", "billing", "small"),
        ("The app crashes with an error after install and login fails", "technical", "big"),
    ],
)
async def test_classifier_label_drives_the_branch(loaded, prompt: str, branch: str, model: str) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, prompt, route="classify")
    decision = of(events, "decision", action="branch")[0]
    assert decision.target == branch and decision.data["label"] == branch
    assert decision.data["confidence"] >= 0.5 and decision.data["mode"] == "classifier"
    classifier_hops = of(events, "hop_finished", kind="attempt", role="classifier")
    assert [h.model for h in classifier_hops] == ["cheap"]
    assert answered_by(events) == [model]
    assert events[-1].status == "ok"
    route_hop = of(events, "hop_finished", kind="route")[0]
    assert classifier_hops[0].parent_id is not None and route_hop.hop_id != classifier_hops[0].hop_id


async def test_no_matching_words_is_low_confidence_and_takes_the_default(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "Tell me a poem about autumn leaves", route="classify")
    decision = of(events, "decision", action="branch")[0]
    assert decision.target == "general" and decision.data["fallback"] == "low_confidence"
    assert answered_by(events) == ["cheap"]


async def test_garbage_label_falls_to_the_default_saying_so(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "I need a refund for my invoice", route="garbage")
    decision = of(events, "decision", action="branch")[0]
    assert decision.target == "general"
    assert decision.data["fallback"] == "invalid_label" and "unknown label" in decision.reason
    assert answered_by(events) == ["cheap"]
    # the classifier's call was paid for: the run's cost includes it
    costs = [h.cost_usd for h in of(events, "hop_finished", kind="attempt")]
    assert len(costs) == 2 and events[-1].cost_usd == sum(costs)


@pytest.mark.parametrize(
    "prompt, metadata, branch, rule",
    [
        ("hello", {"risk": "critical"}, "careful", 0),
        ("hello", {"risk": "low"}, "quick", None),
        ("Can I get a REFUND please", None, "careful", 1),
        ("word " * 40, None, "careful", 2),
    ],
)
async def test_rules_first_match_wins(loaded, prompt, metadata, branch, rule) -> None:  # type: ignore[no-untyped-def]
    async with Engine(loaded) as engine:
        events = await collect(engine, prompt, route="rules", metadata=metadata)
    decision = of(events, "decision", action="branch")[0]
    assert decision.target == branch and decision.data["rule"] == rule


async def test_strong_weak_threshold(loaded) -> None:
    hard = "Why does our design deadlock? Explain how to refactor the locking across multiple modules? And compare?"
    async with Engine(loaded) as engine:
        easy_events = await collect(engine, "complete this line", route="strong_weak")
        hard_events = await collect(engine, hard, route="strong_weak")
    easy_d = of(easy_events, "decision", action="branch")[0]
    hard_d = of(hard_events, "decision", action="branch")[0]
    assert easy_d.target == "weak" and easy_d.data["score"] < 0.4
    assert hard_d.target == "strong" and hard_d.data["score"] >= 0.4
    assert answered_by(easy_events) == ["cheap"] and answered_by(hard_events) == ["big"]


def test_parse_label_and_difficulty_features() -> None:
    assert parse_label('{"label": "billing", "confidence": 0.8}') == ("billing", 0.8)
    assert parse_label("label: technical, confidence: 0.6") == ("technical", 0.6)
    assert parse_label("no idea") == (None, None)
    score, feats = difficulty("complete this line")
    assert score == 0.0 and feats["easy_words"] == ["complete", "line"]


async def test_strong_weak_by_a_classifiers_confidence(loaded) -> None:
    async with Engine(loaded) as engine:
        hard = await collect(engine, "deep reasoning over several files and careful analysis", route="sw_classifier")
        easy = await collect(engine, "a simple short request", route="sw_classifier")
    hd, ed = of(hard, "decision", action="branch")[0], of(easy, "decision", action="branch")[0]
    assert hd.data["label"] == "hard" and hd.data["score"] == hd.data["confidence"] >= 0.6 and hd.target == "strong"
    assert (
        ed.data["label"] == "easy" and ed.data["score"] == round(1 - ed.data["confidence"], 3) and ed.target == "weak"
    )
