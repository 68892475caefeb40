"""Context windows (FIELD-NOTES hard case 20): a prompt that cannot fit is never sent to a model too small for
it, and a provider's "prompt is too long" leads only to fallbacks with a larger window."""

from __future__ import annotations

import pytest

from workbench.engine import Engine
from workbench.profiles.load import loads_profile
from workbench.tokens import count_messages

PROFILE = """
name: windows
providers:
  oai: {kind: sim, wire: openai}
  ant: {kind: sim, wire: anthropic}
models:
  tiny:
    provider: oai
    model: sim-tiny
    context_window: 50
    prices: [{input: 0.1, output: 0.4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}
  liar:  # the profile says 1000, the server really takes 30: only the provider's error can tell
    provider: ant
    model: sim-liar
    context_window: 1000
    max_output_tokens: 100
    prices: [{input: 1, output: 5}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10, context_window: 30}
  same:
    provider: oai
    model: sim-same
    context_window: 1000
    max_output_tokens: 100
    prices: [{input: 1, output: 5}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}
  big:
    provider: oai
    model: sim-big
    context_window: 200000
    prices: [{input: 2, output: 8}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}
routes:
  preflight: {steps: [{name: answer, targets: [tiny, big]}]}
  provider_says_no: {steps: [{name: answer, targets: [liar, same, big]}]}
"""

PROMPT = "Summarise the history of tide prediction machines and how they were calibrated. " * 3


@pytest.fixture
def loaded():
    return loads_profile(PROFILE)


async def run(loaded, route: str):
    async with Engine(loaded) as engine:
        events = [e async for e in engine.run(PROMPT, route=route)]
        counts = {m: engine._sim.request_count(m) for m in ("sim-tiny", "sim-liar", "sim-same", "sim-big")}
    return events, counts


async def test_a_model_whose_window_cannot_take_the_prompt_is_skipped_before_any_call(loaded) -> None:
    prompt_tokens = count_messages([{"role": "user", "content": PROMPT}], model="sim-tiny", encoding="o200k_base")
    assert prompt_tokens > 50
    events, counts = await run(loaded, "preflight")
    attempts = [e for e in events if e.type == "hop_finished" and e.kind == "attempt"]
    assert [(a.name, a.status, a.error_class) for a in attempts] == [
        ("tiny", "skipped", "context_window"),
        ("big", "ok", None),
    ]
    assert counts["sim-tiny"] == 0 and counts["sim-big"] == 1
    skip = [e for e in events if e.type == "decision" and e.action == "skip"]
    assert skip and f"~{prompt_tokens} tokens" in skip[0].reason and "50" in skip[0].reason
    assert events[-1].status == "ok"


async def test_prompt_too_long_from_the_provider_skips_windows_no_larger(loaded) -> None:
    events, counts = await run(loaded, "provider_says_no")
    attempts = [e for e in events if e.type == "hop_finished" and e.kind == "attempt"]
    assert [(a.name, a.status, a.error_class) for a in attempts] == [
        ("liar", "error", "context_window"),
        ("same", "skipped", "context_window"),
        ("big", "ok", None),
    ]
    assert attempts[0].cost_usd == 0  # a 400 before generating is not billed
    assert "prompt is too long" in attempts[0].error
    assert counts == {"sim-tiny": 0, "sim-liar": 1, "sim-same": 0, "sim-big": 1}
    actions = [e.action for e in events if e.type == "decision"]
    assert actions == ["route", "fallback", "skip"]
    assert events[-1].status == "ok"


BOUNDARY = """
name: window-boundary
providers:
  oai: {kind: sim, wire: openai}
models:
  exact: {provider: oai, model: sim-exact, context_window: WINDOW, max_output_tokens: 200,
          prices: [{input: 1, output: 5}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}
  big: {provider: oai, model: sim-big, context_window: 200000,
        prices: [{input: 2, output: 8}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}
routes:
  main: {steps: [{name: answer, targets: [exact, big]}]}
"""


@pytest.mark.parametrize("spare", [0, -1])
async def test_the_window_holds_the_prompt_and_the_output_it_reserves_at_the_boundary(spare: int) -> None:
    """Issue 20 item 24: a window of exactly prompt + max output tokens takes the call; one token less cannot (the
    provider would refuse the request: the answer it may write does not fit), so the target is skipped unsent."""
    prompt_tokens = count_messages([{"role": "user", "content": PROMPT}], model="sim-exact", encoding="o200k_base")
    window = prompt_tokens + 200 + spare
    assert prompt_tokens < window  # the prompt alone fits either way: only the reserved output decides
    async with Engine(loads_profile(BOUNDARY.replace("WINDOW", str(window)))) as engine:
        events = [e async for e in engine.run(PROMPT, route="main")]
        sent = engine._sim.request_count("sim-exact")
    attempts = [e for e in events if e.type == "hop_finished" and e.kind == "attempt"]
    if spare == 0:
        assert [(a.name, a.status) for a in attempts] == [("exact", "ok")] and sent == 1
    else:
        assert [(a.name, a.status, a.error_class) for a in attempts] == [
            ("exact", "skipped", "context_window"),
            ("big", "ok", None),
        ]
        assert sent == 0
        (skip,) = [e for e in events if e.type == "decision" and e.action == "skip"]
        assert f"~{prompt_tokens} tokens and 200 are reserved" in skip.reason and str(window) in skip.reason
    assert events[-1].status == "ok"
