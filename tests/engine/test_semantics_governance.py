"""Governance and context against the simulator: refused targets are decisions and skipped hops (never a silent
change), PII is masked before the request leaves (asserted on what the simulator received), and history is cut
to the context window by the tokenizer's count, oldest turns first, the system prompt kept."""

from __future__ import annotations

import pytest

from tests.engine.semantics_profile import PROFILE, collect, of
from workbench.engine import Engine
from workbench.engine.governance import fit_history
from workbench.profiles.load import loads_profile
from workbench.tokens import count_messages


@pytest.fixture
def loaded():  # type: ignore[no-untyped-def]
    return loads_profile(PROFILE)


async def test_external_provider_is_refused_and_the_allowed_target_answers(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "hello", route="residency")
    refusal = of(events, "decision", action="refuse")
    assert len(refusal) == 1 and refusal[0].target == "abroad"
    assert refusal[0].data == {"rule": "deny_tags", "model": "abroad", "provider": "outside"}
    skipped = of(events, "hop_finished", kind="attempt", status="skipped")
    assert [(h.model, h.error_class, h.target_index) for h in skipped] == [("abroad", "governance", 0)]
    ok = of(events, "hop_finished", kind="attempt", status="ok")
    assert [h.model for h in ok] == ["small"]
    step = of(events, "hop_started", kind="step")[0]
    assert refusal[0].hop_id == step.hop_id and skipped[0].parent_id == step.hop_id
    assert events[-1].status == "ok"


async def test_disallowed_model_is_refused(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "hello", route="only_cheap")
    refusal = of(events, "decision", action="refuse")
    assert [(d.target, d.data["rule"]) for d in refusal] == [("big", "models")]
    assert [h.model for h in of(events, "hop_finished", kind="attempt", status="ok")] == ["cheap"]


async def test_no_allowed_target_fails_the_step_with_the_rule(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "hello", route="nothing_allowed")
    assert [d.data["rule"] for d in of(events, "decision", action="refuse")] == ["tags"]
    final = events[-1]
    assert final.status == "error" and "refused by its allow rules" in final.error
    assert final.cost_usd == 0 and not of(events, "hop_started", kind="attempt")


async def test_pii_is_masked_before_the_request_leaves(loaded) -> None:
    prompt = "Mail jane.doe@example.com or call +1 415 555 0132; card 4111 1111 1111 1111, ref 1234 5678 9012 3456."
    async with Engine(loaded) as engine:
        events = await collect(engine, prompt, route="redacted")
        received = engine._sim.last_prompt("sim-small")  # type: ignore[union-attr]
    sent = received.messages[-1]["content"]
    assert "jane.doe@example.com" not in sent and "4111 1111 1111 1111" not in sent and "555 0132" not in sent
    assert "[EMAIL]" in sent and "[CARD]" in sent and "[PHONE]" in sent
    # 1234 5678 9012 3456 fails the Luhn check: not a card number, and a 16-digit run is not a phone number
    assert "1234 5678 9012 3456" in sent
    decision = of(events, "decision", action="redact")[0]
    assert decision.data == {"kinds": {"card": 1, "email": 1, "phone": 1}}
    assert "jane" not in decision.reason and "4111" not in decision.reason


async def test_history_is_truncated_to_the_window_keeping_the_system_prompt(loaded) -> None:
    history = []
    for i in range(6):
        history.append({"role": "user", "content": f"turn {i}: tell me about harbour number {i} and its ships"})
        history.append({"role": "assistant", "content": f"harbour {i} has many ships and a lighthouse"})
    async with Engine(loaded) as engine:
        events = await collect(engine, "and the last one?", route="window", history=history)
        received = engine._sim.last_prompt("sim-tiny-window")  # type: ignore[union-attr]
    cut = of(events, "decision", action="truncate")[0]
    assert cut.data["limit"] == 120 and cut.data["dropped_turns"] > 0
    msgs = received.messages
    assert msgs[0] == {"role": "system", "content": "Be brief and kind."}
    assert msgs[-1]["content"] == "and the last one?"
    kept = msgs[1:-1]
    assert len(kept) == cut.data["kept_turns"] == 12 - cut.data["dropped_turns"]
    assert kept == history[len(history) - len(kept) :]  # the newest turns survive, in order
    assert count_messages(msgs, model="sim-tiny-window", encoding="o200k_base") <= 120
    # one more turn would not have fitted: the cut is as small as it can be
    more = [msgs[0], history[len(history) - len(kept) - 1], *msgs[1:]]
    assert count_messages(more, model="sim-tiny-window", encoding="o200k_base") > 120
    assert events[-1].status == "ok"


def test_fit_history_keeps_system_turns() -> None:
    history = [{"role": "system", "content": "rules"}, *[{"role": "user", "content": "x " * 50}] * 3]
    kept, dropped, tokens = fit_history(None, history, "q", 80, model_id="gpt-4o", encoding="o200k_base")
    assert kept[0] == {"role": "system", "content": "rules"} and dropped == 2 and len(kept) == 2 and tokens <= 80


async def test_prompt_over_the_steps_max_tokens_is_refused(loaded) -> None:
    async with Engine(loaded) as engine:
        short = await collect(engine, "hello there", route="capped")
        long = await collect(engine, "please " * 40, route="capped")
    assert short[-1].status == "ok" and not of(short, "decision", action="refuse")
    refusal = of(long, "decision", action="refuse")[0]
    expected = count_messages([{"role": "user", "content": "please " * 40}], model="sim-cheap", encoding="o200k_base")
    assert refusal.data == {"rule": "max_tokens", "tokens": expected, "max_tokens": 20}
    assert long[-1].status == "error" and not of(long, "hop_started", kind="attempt")
