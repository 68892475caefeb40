"""Accounting truth at the edges, end to end through the real Engine and the embedded simulator: long-context
tiers at and over their threshold, user-cancelled streams, cost caps that refuse before a call and trip during
one, and zero-price models under a cap (issue 8; field notes hard cases 12 and 22).

Every test also checks that the run's totals are the exact sums of its hops, in the engine's events and in a
real SQLite store (`check_totals`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from accounting_helpers import (
    GEMINI_PRICING,
    MINI_IN,
    MINI_OUT,
    PRO_IN,
    PRO_LONG_IN,
    PRO_LONG_OUT,
    PRO_OUT,
    D,
    attempts,
    check_totals,
    end_of,
    load,
    prompt_tokens,
    run_route,
    sim_for,
    tokens_of,
    usd,
)

from workbench.engine import CancelToken
from workbench.engine.events import Event, HopStarted
from workbench.profiles.load import LoadedProfile
from workbench.sim.server import SimServer
from workbench.tokens import count_text

ENC = "o200k_base"

# Gemini 2.5 Pro's published rates and tier rule (the whole request at the higher rates once the prompt is over
# the threshold), with the threshold moved from 200K tokens down to this test's prompt size P.
TIER_PROFILE = """
name: tiers
sim: {{seed: 8}}
providers:
  gem: {{kind: sim, wire: openai, timeouts: {{first_token: 5, idle: 1, total: 20}}}}
models:
  pro-at-threshold:
    provider: gem
    model: gemini-2.5-pro-a
    tokenizer: o200k_base
    prices:
      - {{source: "{source}", input: {base_in}, output: {base_out},
         tiers: [{{above_input_tokens: {at}, input: {long_in}, output: {long_out}}}]}}
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 40, usage_shape: gemini_openai, reasoning_tokens: 64}}
  pro-over-by-one:
    provider: gem
    model: gemini-2.5-pro-b
    tokenizer: o200k_base
    prices:
      - {{source: "{source}", input: {base_in}, output: {base_out},
         tiers: [{{above_input_tokens: {over}, input: {long_in}, output: {long_out}}}]}}
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 40, usage_shape: gemini_openai, reasoning_tokens: 64}}
routes:
  at: {{steps: [{{name: answer, targets: [pro-at-threshold]}}]}}
  over: {{steps: [{{name: answer, targets: [pro-over-by-one]}}]}}
"""


@pytest.mark.parametrize("route", ["at", "over"])
async def test_long_context_tier_not_crossed_at_the_threshold_and_crossed_by_one_token(
    tmp_path: Path, route: str
) -> None:
    model_id = {"at": "gemini-2.5-pro-a", "over": "gemini-2.5-pro-b"}[route]
    size = prompt_tokens(model_id)  # P: the prompt as the provider will count it
    loaded = load(
        TIER_PROFILE.format(
            source=GEMINI_PRICING,
            base_in=PRO_IN,
            base_out=PRO_OUT,
            long_in=PRO_LONG_IN,
            long_out=PRO_LONG_OUT,
            at=size,
            over=size - 1,
        )
    )
    reasoning = 64
    with sim_for(loaded) as sim:
        events = await run_route(loaded, route, sim=sim)
    (hop,) = attempts(events)
    assert hop.usage["input_source"] == "reported" and hop.input_tokens == size
    out = count_text(hop.output, ENC)
    if route == "at":  # P tokens, threshold P: not above it, base rates
        hand = usd((size, PRO_IN), (out + reasoning, PRO_OUT))
        assert hop.cost["tier"] is None
    else:  # P tokens, threshold P - 1: over by one, the whole request at the tier's rates (reasoning too)
        hand = usd((size, PRO_LONG_IN), (out + reasoning, PRO_LONG_OUT))
        assert hop.cost["tier"] == 0
    assert D(hop.cost["total"]) == hand
    check_totals(events, loaded, tmp_path)


def _cancel_at_fifth_token(token: CancelToken, *, later: float | None) -> Callable[[Event, list[Event]], None]:
    def on_event(event: Event, seen: list[Event]) -> None:
        if event.type == "token" and sum(e.type == "token" for e in seen) == 5:
            if later is None:
                token.cancel()  # from the consumer's own code: the engine sees the flag at its next step
            else:  # from a timer while the engine awaits the stream: interrupts the read
                asyncio.get_running_loop().call_later(later, token.cancel)

    return on_event


@pytest.mark.parametrize("later", [None, 0.03], ids=["between-tokens", "while-awaiting"])
async def test_a_user_cancelled_stream_is_costed_for_the_prompt_and_what_arrived(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path, later: float | None
) -> None:
    token = CancelToken()
    on_event = _cancel_at_fifth_token(token, later=later)
    events = await run_route(loaded, "slow", sim=acc_sim, cancel=token, on_event=on_event)
    (hop,) = attempts(events)
    assert hop.status == "cancelled" and hop.reason == "cancelled by user"
    received = tokens_of(events, hop.hop_id)
    assert hop.output == received
    out = count_text(received, ENC)
    if later is None:
        assert out == 5
    else:
        assert 5 <= out < 300  # what arrived until the timer fired: far short of the whole answer
    usage = hop.usage
    assert usage["input_source"] == usage["output_source"] == "estimated"
    prompt = prompt_tokens("gpt-4o-mini-slow")
    assert (usage["input_tokens"], usage["output_tokens"]) == (prompt, out)
    hand = usd((prompt, MINI_IN), (out, MINI_OUT))
    assert D(hop.cost["total"]) == hand
    end = end_of(events)
    assert end.status == "cancelled" and end.estimated is True and D(end.cost["total"]) == hand
    check_totals(events, loaded, tmp_path)


async def test_a_cap_refuses_a_call_whose_worst_case_cannot_fit_before_it_starts(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    model_id, cap, max_output = "gpt-4o-mini-2024-07-18", D("0.001"), 4096
    before = acc_sim.request_count(model_id)
    events = await run_route(loaded, "refuse", sim=acc_sim)
    assert acc_sim.request_count(model_id) == before  # nothing was sent
    prompt = prompt_tokens(model_id)
    worst = usd((prompt, MINI_IN), (max_output, MINI_OUT))
    assert worst > cap > usd((prompt, MINI_IN), (200, MINI_OUT))  # a typical answer would fit; the worst case not
    (refusal,) = [e for e in events if e.type == "decision" and e.action == "refuse"]
    assert refusal.target == "mini-plain"
    assert f"${worst:.6f}" in refusal.reason and f"{prompt} prompt + {max_output} max output tokens" in refusal.reason
    (hop,) = attempts(events)
    assert not [e for e in events if isinstance(e, HopStarted) and e.hop_id == hop.hop_id]
    assert (hop.status, hop.error_class, hop.cost_usd, hop.input_tokens, hop.output_tokens) == (
        "skipped",
        "cost_cap",
        0,
        0,
        0,
    )
    end = end_of(events)
    assert end.status == "error" and "refused" in end.error and D(end.cost["total"]) == 0
    check_totals(events, loaded, tmp_path)


async def test_a_refused_call_falls_through_to_a_free_model(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    events = await run_route(loaded, "refuse_then_free", sim=acc_sim)
    refused, served = attempts(events)
    assert (refused.name, refused.status, served.name, served.status) == ("mini-plain", "skipped", "free", "ok")
    assert served.usage["input_source"] == "reported" and served.output_tokens > 0 and served.cost_usd == 0
    assert end_of(events).status == "ok" and D(end_of(events).cost["total"]) == 0
    check_totals(events, loaded, tmp_path)


async def test_a_cap_trips_mid_stream_at_the_first_token_over_it(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    cap, max_output = D("0.00003"), 10
    prompt = prompt_tokens("gpt-4o-mini-overrun")
    assert usd((prompt, MINI_IN), (max_output, MINI_OUT)) <= cap  # the worst case fits: the call is made
    # ... but this server ignores max_tokens. The meter stops it at the first token that takes it over the cap.
    tripping = next(n for n in range(1, 10_000) if usd((prompt, MINI_IN), (n, MINI_OUT)) > cap)
    events = await run_route(loaded, "trip", sim=acc_sim)
    assert not [e for e in events if e.type == "decision" and e.action == "refuse"]
    (hop,) = attempts(events)
    assert hop.status == "cancelled" and "tripped mid-stream" in hop.reason and "step cap $0.00003" in hop.reason
    out = count_text(hop.output, ENC)
    assert hop.output == tokens_of(events, hop.hop_id)
    assert out == tripping > max_output  # the server overran max_tokens; the meter cut it at once
    usage = hop.usage
    assert usage["input_source"] == usage["output_source"] == "estimated"
    assert (usage["input_tokens"], usage["output_tokens"]) == (prompt, out)
    hand = usd((prompt, MINI_IN), (out, MINI_OUT))
    assert D(hop.cost["total"]) == hand
    assert usd((prompt, MINI_IN), (out - 1, MINI_OUT)) <= cap < hand  # overshoot: one token, no more
    end = end_of(events)
    assert end.status == "error" and "tripped" in end.error and D(end.cost["total"]) == hand
    # the trip is a `cap` decision under the step, naming the target, the cap, what was left and what it cost
    (trip,) = [e for e in events if e.type == "decision" and e.action == "cap"]
    assert trip.target == hop.name and trip.hop_id == hop.parent_id and "step cap $0.00003" in trip.reason
    assert trip.data == {"cap": "step cap $0.00003", "left_usd": str(cap), "cost_usd": str(hand)}
    check_totals(events, loaded, tmp_path)


@pytest.mark.parametrize("route", ["free_capped", "unpriced_capped"])
async def test_a_zero_price_model_is_never_blocked_by_a_cap(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path, route: str
) -> None:
    events = await run_route(loaded, route, sim=acc_sim)  # the cap is $0: nothing priced could run
    assert not [e for e in events if e.type == "decision" and e.action in ("refuse", "cap")]
    (hop,) = attempts(events)
    assert hop.status == "ok" and hop.reason is None and hop.output
    assert hop.usage["input_source"] == "reported" and hop.input_tokens > 0 and hop.output_tokens > 0
    assert hop.cost_usd == 0 and D(hop.cost["total"]) == 0
    assert (hop.price is None) == (route == "unpriced_capped")
    end = end_of(events)
    assert end.status == "ok" and D(end.cost["total"]) == 0 and end.output == hop.output
    check_totals(events, loaded, tmp_path)
