"""Parallel fan-out against the simulator: children are hops under the parallel hop, their tokens interleave by
hop id, costs add up exactly, and each merge rule holds. Also: an unknown template name is a load-time error."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.engine.semantics_profile import collect, of
from workbench.engine import Engine
from workbench.errors import ProfileError
from workbench.profiles.load import loads_profile

PROFILE = """
name: fan
providers: {local: {kind: sim, wire: openai}, other: {kind: sim, wire: anthropic}}
models:
  specs: {provider: local, model: sim-specs, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 2000, answer_tokens: 30}}
  reviews: {provider: other, model: sim-reviews, prices: [{input: 3, output: 5}], sim: {ttft_ms: 0, tokens_per_s: 2000, answer_tokens: 30}}
  slow: {provider: local, model: sim-slow, prices: [{input: 1, output: 1}], sim: {ttft_ms: 3000, tokens_per_s: 2000, answer_tokens: 10}}
  judge: {provider: local, model: sim-judge, prices: [{input: 0.5, output: 0.5}], sim: {ttft_ms: 0}}
routes:
  all:
    steps: [{kind: parallel, name: fan, targets: [specs, reviews], merge: all}]
  first:
    steps: [{kind: parallel, name: fan, targets: [slow, specs], merge: first}]
  slow_pair:
    steps: [{kind: parallel, name: fan, targets: [slow, slow], merge: all}]
  judged:
    steps:
      - kind: parallel
        name: fan
        merge: judge
        judge: {type: judge, model: judge, rubric: covers the question}
        steps:
          - {name: spec_sheet, targets: [specs]}
          - {name: review_summary, targets: [reviews], prompt: "Summarise reviews of {{ input }}"}
"""


@pytest.fixture
def loaded():  # type: ignore[no-untyped-def]
    return loads_profile(PROFILE)


async def test_all_merge_labels_every_child_and_costs_add_up(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "Compare the battery of the X1 headphones", route="all")
    par = of(events, "hop_started", kind="parallel")[0]
    children = [h for h in of(events, "hop_started", kind="step") if h.parent_id == par.hop_id]
    assert len(children) == 2 and all(h.role == "child" for h in children)
    attempts = of(events, "hop_finished", kind="attempt")
    total = sum((Decimal(h.cost["total"]) for h in attempts), Decimal(0))
    final = events[-1]
    assert final.status == "ok" and Decimal(final.cost["total"]) == total and total > 0
    outs = {h.model: h.output for h in attempts}
    assert final.output == f"### specs\n\n{outs['specs']}\n\n### reviews\n\n{outs['reviews']}"
    merge = of(events, "decision", action="merge")[0]
    assert merge.data["chosen"] == ["specs", "reviews"]
    # each token event belongs to one attempt's hop id, and each attempt's tokens join to its output
    for h in attempts:
        assert "".join(t.text for t in of(events, "token", hop_id=h.hop_id)) == h.output


async def test_first_merge_takes_the_first_to_finish(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "battery life", route="first")
    merge = of(events, "decision", action="merge")[0]
    assert merge.data["chosen"] == ["specs"]
    specs = of(events, "hop_finished", kind="attempt", model="specs")[0]
    assert events[-1].output == specs.output and events[-1].status == "ok"
    slow = of(events, "hop_finished", kind="attempt", model="slow")[0]  # cancelled once specs answered
    assert slow.status == "cancelled" and "specs answered first" in slow.reason
    assert events[-1].cost_usd == sum(h.cost_usd for h in of(events, "hop_finished", kind="attempt"))


async def test_a_user_cancel_reaches_every_child(loaded) -> None:
    from workbench.engine import CancelToken

    token = CancelToken()
    events = []
    async with Engine(loaded) as engine:
        t0 = asyncio.get_running_loop().time()
        async for event in engine.run("battery", route="slow_pair", cancel=token):
            events.append(event)
            if len(of(events, "hop_started", kind="attempt")) == 2:
                token.cancel()
        elapsed = asyncio.get_running_loop().time() - t0
    attempts = of(events, "hop_finished", kind="attempt")
    assert [h.status for h in attempts] == ["cancelled", "cancelled"]
    assert events[-1].status == "cancelled" and elapsed < 2.5  # not waiting out the 3 s first token
    assert events[-1].cost_usd == sum(h.cost_usd for h in attempts)


async def test_judge_merge_picks_the_best_scored_child(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "X1 headphones battery", route="judged")
    merge = of(events, "decision", action="merge")[0]
    scores = merge.data["scores"]
    assert set(scores) == {"spec_sheet", "review_summary"}
    best = max(scores, key=lambda k: scores[k])
    assert merge.data["chosen"] == [best]
    judged = of(events, "hop_finished", kind="attempt", role="judge")
    assert len(judged) == 2
    assert events[-1].cost_usd == sum(h.cost_usd for h in of(events, "hop_finished", kind="attempt"))


def test_unknown_template_name_is_a_load_error_with_file_and_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.yaml"
    path.write_text(PROFILE.replace("Summarise reviews of {{ input }}", "Summarise {{ product }}"))
    from workbench.profiles.load import load_profile

    with pytest.raises(ProfileError) as err:
        load_profile(path)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "product" in t)
    assert f"p.yaml:{line}:" in str(err.value) and "'product'" in str(err.value)
