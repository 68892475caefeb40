"""The engine against the embedded simulator over real loopback HTTP: events, fallbacks, errors, cost, cancel."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from workbench.engine import CancelToken, Engine
from workbench.errors import EngineError
from workbench.profiles.load import loads_profile
from workbench.sim.behaviour import Fault
from workbench.tokens import count_messages, count_text

PROFILE = """
name: engine-tests
sim: {seed: 11}
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 0.5, idle: 0.3, total: 5}}
  ant: {kind: sim, wire: anthropic, timeouts: {first_token: 0.5, idle: 0.3, total: 5}}
  real: {kind: openai, api_key_env: WB_TEST_MISSING_KEY}
models:
  mini:
    provider: oai
    model: sim-mini
    tokenizer: o200k_base
    prices: [{effective: 2026-01-01, input: 0.15, cached_input: 0.075, output: 0.60}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30}
  broken:
    provider: oai
    model: sim-broken
    prices: [{input: 2.5, output: 10}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, faults: [{kind: http_503, rate: 1.0}]}
  claude:
    provider: ant
    model: sim-claude
    tokenizer: o200k_base
    prices: [{input: 3, output: 15, cached_input: 0.30, cache_write_5m: 3.75, cache_write_1h: 6}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 25}
  slowpoke:
    provider: oai
    model: sim-slow
    prices: [{input: 1, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 40, answer_tokens: 200}
  overrunner:  # a server that ignores max_tokens: only the stream meter can stop it
    provider: oai
    model: sim-overrun
    tokenizer: o200k_base
    prices: [{input: 1, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 2000, answer_tokens: 200, ignore_max_tokens: true}
  free:
    provider: oai
    model: sim-free
    prices: [{input: 0, output: 0}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
  cloud: {provider: real, model: gpt-4o-mini}
routes:
  plain: {steps: [{name: answer, targets: [mini]}]}
  claude_only: {steps: [{name: answer, targets: [claude]}]}
  fallback: {steps: [{name: answer, targets: [broken, claude]}]}
  two_steps:
    steps:
      - {name: draft, targets: [mini]}
      - {name: polish, targets: [claude], system: "Polish the draft."}
  slow: {steps: [{name: answer, targets: [slowpoke]}]}
  capped_refuse:
    max_cost_usd: 0.0000001
    steps: [{name: answer, targets: [mini, free]}]
  capped_trip:
    steps: [{name: answer, targets: [overrunner], max_cost_usd: 0.00006, max_output_tokens: 10}]
  needs_key: {steps: [{name: answer, targets: [cloud]}]}
"""


@pytest.fixture
def loaded():
    return loads_profile(PROFILE)


async def collect(engine: Engine, prompt: str, **kw):
    return [event async for event in engine.run(prompt, **kw)]


def by_type(events, kind):
    return [e for e in events if e.type == kind]


async def test_streaming_run_events_usage_and_exact_cost(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "Explain connection pooling in two sentences.", route="plain")
    types = [e.type for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.index("first_token") < types.index("token")
    final = events[-1]
    tokens = "".join(e.text for e in by_type(events, "token"))
    assert final.status == "ok" and final.output == tokens and tokens.strip()
    attempt = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"][0]
    prompt_tokens = count_messages(
        [{"role": "user", "content": "Explain connection pooling in two sentences."}],
        model="sim-mini",
        encoding="o200k_base",
    )
    assert attempt.usage["input_source"] == "reported"
    assert attempt.input_tokens == prompt_tokens
    assert attempt.output_tokens == count_text(tokens, "o200k_base")
    expected = (Decimal(prompt_tokens) * Decimal("0.15") + Decimal(attempt.output_tokens) * Decimal("0.60")) / 10**6
    assert Decimal(attempt.cost["total"]) == expected
    assert final.cost["total"] == str(expected)
    assert attempt.price["effective"] == "2026-01-01"


async def test_fallback_on_503_is_a_decision_and_the_failed_attempt_is_not_billed(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "hello there", route="fallback")
    attempts = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"]
    assert [(a.name, a.status, a.attempt) for a in attempts] == [("broken", "error", 1), ("claude", "ok", 1)]
    assert [a.target_index for a in attempts] == [0, 1]
    assert attempts[0].error_class == "server" and attempts[0].retryable is True
    assert "503" in attempts[0].error
    assert attempts[0].cost_usd == 0
    fallback = [d for d in by_type(events, "decision") if d.action == "fallback"]
    assert len(fallback) == 1 and fallback[0].target == "claude" and "server" in fallback[0].reason
    final = events[-1]
    assert final.status == "ok"
    assert Decimal(final.cost["total"]) == sum(Decimal(h.cost["total"]) for h in attempts if h.cost)


@pytest.mark.parametrize(
    "fault, status, error_class",
    [
        ("http_429", "error", "rate_limit"),
        ("http_500", "error", "server"),
        ("http_503", "error", "server"),
        ("http_529", "error", "overloaded"),
        ("hang", "timeout", "timeout"),
        ("stall", "timeout", "timeout"),
        ("drop", "error", "connection"),
        ("malformed", "error", "malformed"),
    ],
)
async def test_each_fault_surfaces_as_its_error_class_then_falls_back(loaded, fault, status, error_class) -> None:
    profile = loaded.profile
    broken = profile.models["broken"]
    sim = broken.sim.model_copy(update={"faults": [Fault(kind=fault, rate=1.0, after_tokens=3)]})
    models = {**profile.models, "broken": broken.model_copy(update={"sim": sim})}
    from dataclasses import replace

    patched = replace(loaded, profile=profile.model_copy(update={"models": models}))
    async with Engine(patched) as engine:
        events = await collect(engine, "fault please", route="fallback")
    first = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"][0]
    assert (first.status, first.error_class, first.retryable) == (status, error_class, True)
    assert events[-1].status == "ok"  # the fallback served
    if fault in ("stall", "drop", "malformed"):  # text arrived before the break: billed, estimated
        assert first.output_tokens > 0 and first.usage["output_source"] == "estimated" and first.cost_usd > 0


async def test_steps_pass_output_as_next_input(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "Write about tidal energy.", route="two_steps")
    steps = [h for h in by_type(events, "hop_finished") if h.kind == "step"]
    assert [s.name for s in steps] == ["draft", "polish"] and all(s.status == "ok" for s in steps)
    attempts = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"]
    draft = attempts[0].output
    expected_in = count_messages(
        [{"role": "system", "content": "Polish the draft."}, {"role": "user", "content": draft}],
        model="sim-claude",
        encoding="o200k_base",
    )
    assert attempts[1].input_tokens == expected_in
    assert events[-1].output == attempts[1].output
    assert all(s.cost_usd == 0 for s in steps)  # money sits on attempts only


async def test_cancel_token_closes_the_hop_with_estimated_cost(loaded) -> None:
    token = CancelToken()
    seen = []
    async with Engine(loaded) as engine:
        async for event in engine.run("a long answer please", route="slow", cancel=token):
            seen.append(event)
            if event.type == "token" and len(by_type(seen, "token")) == 5:
                asyncio.get_running_loop().call_later(0.05, token.cancel)
    attempt = [h for h in by_type(seen, "hop_finished") if h.kind == "attempt"][0]
    assert attempt.status == "cancelled" and attempt.reason == "cancelled by user"
    assert attempt.usage["input_source"] == "estimated" and attempt.input_tokens > 0
    assert attempt.output_tokens >= 5 and attempt.cost_usd > 0
    assert seen[-1].status == "cancelled" and seen[-1].cost_usd == attempt.cost_usd and seen[-1].estimated


async def test_cap_refuses_before_the_call_and_free_model_is_never_blocked(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "hi", route="capped_refuse")
    refuse = [d for d in by_type(events, "decision") if d.action == "refuse"]
    assert len(refuse) == 1 and refuse[0].target == "mini" and "worst case" in refuse[0].reason
    attempts = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"]
    assert [(a.name, a.status) for a in attempts] == [("mini", "skipped"), ("free", "ok")]
    assert attempts[0].error_class == "cost_cap" and attempts[0].cost_usd == 0
    assert events[-1].status == "ok" and events[-1].cost_usd == 0


async def test_cap_trips_mid_stream(loaded) -> None:
    async with Engine(loaded) as engine:
        events = await collect(engine, "go", route="capped_trip")
    attempt = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"][0]
    # the worst case (prompt + 10 tokens) fit, so the call went out; the server overran max_tokens
    assert not [d for d in by_type(events, "decision") if d.action == "refuse"]
    assert attempt.status == "cancelled" and "tripped mid-stream" in attempt.reason
    # costed exactly on what was sent and received, estimated, and stopped at the first token over the cap
    usage = attempt.usage
    assert usage["input_source"] == usage["output_source"] == "estimated"
    assert usage["output_tokens"] == count_text(attempt.output, "o200k_base")
    hand = (Decimal(usage["input_tokens"]) * 1 + Decimal(usage["output_tokens"]) * 4) / 10**6
    assert Decimal(attempt.cost["total"]) == hand
    assert Decimal("0.00006") < hand <= Decimal("0.00006") + Decimal(4 * 3) / 10**6
    assert 10 < usage["output_tokens"] < 200
    assert events[-1].status == "error" and "tripped" in events[-1].error


async def test_missing_api_key_variable_is_an_engine_error_naming_it(loaded) -> None:
    async with Engine(loaded, environ={}) as engine:
        with pytest.raises(EngineError) as info:
            await collect(engine, "hi", route="needs_key")
    assert "WB_TEST_MISSING_KEY" in str(info.value)


async def test_unknown_route_is_an_engine_error(loaded) -> None:
    async with Engine(loaded) as engine:
        with pytest.raises(EngineError, match="unknown route 'nope'"):
            await collect(engine, "hi", route="nope")


def _with_broken(loaded, **sim_update):
    from dataclasses import replace

    profile = loaded.profile
    broken = profile.models["broken"]
    models = {**profile.models, "broken": broken.model_copy(update={"sim": broken.sim.model_copy(update=sim_update)})}
    return replace(loaded, profile=profile.model_copy(update={"models": models}))


async def test_role_only_frame_is_not_a_first_token_so_the_ttft_timeout_fires(loaded) -> None:
    # The simulator sends the role-only chunk (and the headers) at once, then waits 900 ms before any text:
    # the first-token timeout (0.5 s) must still fire. (FIELD-NOTES hard case 6.)
    patched = _with_broken(loaded, faults=[], ttft_ms=900)
    async with Engine(patched) as engine:
        events = await collect(engine, "slow to start", route="fallback")
    first = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"][0]
    assert first.status == "timeout" and "first token" in first.error and first.ttft_ms is None
    assert 450 <= first.latency_ms < 900
    assert events[-1].status == "ok"


async def test_fallback_after_a_partial_stream_does_not_duplicate_the_prefix(loaded) -> None:
    # The primary streams 6 tokens then drops the connection; the answer is the fallback's alone.
    # (FIELD-NOTES hard case 1.)
    patched = _with_broken(loaded, faults=[Fault(kind="drop", after_tokens=6)], answer_tokens=40)
    async with Engine(patched) as engine:
        events = await collect(engine, "tell me about tides", route="fallback")
    attempts = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"]
    assert attempts[0].status == "error" and attempts[0].output  # partial text arrived, then the drop
    final = events[-1]
    assert final.output == attempts[1].output
    assert final.output != attempts[0].output + attempts[1].output


LONG_PROMPT = "Describe the water cycle: evaporation, condensation, precipitation and collection, " * 4


async def test_a_broken_anthropic_stream_keeps_the_reported_prompt_side(loaded) -> None:
    # message_start reported the prompt split (fresh, cache read, 5m and 1h writes); the stream then drops.
    # Those buckets stay exact and priced at their own rates; only the output is estimated.
    import json

    dials = {
        "cached_tokens": 10,
        "cache_write_5m_tokens": 5,
        "cache_write_1h_tokens": 3,
        "faults": [{"kind": "drop", "after_tokens": 4}],
    }
    async with Engine(loaded) as engine:
        events = await collect(
            engine, LONG_PROMPT, route="claude_only", extra_headers={"x-sim-behaviour": json.dumps(dials)}
        )
    hop = [h for h in by_type(events, "hop_finished") if h.kind == "attempt"][0]
    usage = hop.usage
    assert hop.status == "error" and hop.error_class == "connection"
    assert (usage["input_source"], usage["output_source"]) == ("reported", "estimated")
    prompt = count_messages([{"role": "user", "content": LONG_PROMPT}], model="sim-claude", encoding="o200k_base")
    assert (
        usage["input_tokens"],
        usage["cache_read_tokens"],
        usage["cache_write_5m_tokens"],
        usage["cache_write_1h_tokens"],
    ) == (prompt - 18, 10, 5, 3)
    assert usage["output_tokens"] == count_text(hop.output, "o200k_base") > 0
    hand = (
        Decimal(prompt - 18) * 3
        + Decimal(10) * Decimal("0.30")
        + Decimal(5) * Decimal("3.75")
        + Decimal(3) * 6
        + Decimal(usage["output_tokens"]) * 15
    ) / 10**6
    assert Decimal(hop.cost["total"]) == hand
