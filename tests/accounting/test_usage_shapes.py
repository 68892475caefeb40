"""Accounting truth, end to end: each provider's usage shape, through the real Engine and the embedded simulator
over loopback HTTP, costs exactly what a hand computation from the published prices says (issue 8; field notes
hard cases 7-11).

Every test also checks that the run's totals are the exact sums of its hops, in the engine's events and in a
real SQLite store (`check_totals`).
"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from accounting_helpers import (
    ANTHROPIC_PRICING,
    FLASH_IN,
    FLASH_OUT,
    GEMINI_PRICING,
    MINI_CACHED,
    MINI_IN,
    MINI_OUT,
    O4_IN,
    O4_OUT,
    OPENAI_PRICING,
    SONNET_HIT,
    SONNET_IN,
    SONNET_OUT,
    SONNET_W1H,
    SONNET_W5,
    D,
    attempts,
    check_totals,
    end_of,
    prompt_tokens,
    run_route,
    tokens_of,
    usd,
    wire_frames,
)

from workbench.engine.events import HopFinished
from workbench.profiles.load import LoadedProfile
from workbench.sim.server import SimServer
from workbench.tokens import count_text

ENC = "o200k_base"


def reported_usage(hop: HopFinished) -> dict[str, Any]:
    usage = hop.usage or {}
    assert usage["input_source"] == usage["output_source"] == "reported", usage
    return usage


async def test_openai_cached_prompt_bills_fresh_and_cached_tokens_each_at_its_rate(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    cached = 32  # the sim's cached_tokens dial for gpt-4o-mini
    wire = [f for f in await wire_frames(acc_sim, "openai", "gpt-4o-mini") if f.get("usage")][-1]["usage"]
    prompt = prompt_tokens("gpt-4o-mini")
    # OpenAI's shape: prompt_tokens *includes* the cached tokens
    assert (wire["prompt_tokens"], wire["prompt_tokens_details"]["cached_tokens"]) == (prompt, cached)

    events = await run_route(loaded, "cached", sim=acc_sim)
    (hop,) = attempts(events)
    assert hop.status == "ok" and hop.output == tokens_of(events, hop.hop_id)
    out = count_text(hop.output, ENC)
    usage = reported_usage(hop)
    assert (usage["input_tokens"], usage["cache_read_tokens"], usage["output_tokens"]) == (prompt - cached, cached, out)
    assert hop.input_tokens == prompt  # every prompt token processed, counted once
    # (prompt - cached) x in + cached x cached rate + out x out rate
    hand = usd((prompt - cached, MINI_IN), (cached, MINI_CACHED), (out, MINI_OUT))
    assert D(hop.cost["total"]) == hop.cost_usd == hand
    assert hand != usd((prompt, MINI_IN), (cached, MINI_CACHED), (out, MINI_OUT))  # cached counted twice
    assert hop.price["source"] == OPENAI_PRICING
    check_totals(events, loaded, tmp_path)


async def test_openai_reasoning_tokens_inside_completion_are_billed_once(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    reasoning = 192  # the sim's reasoning_tokens dial for o4-mini
    wire = [f for f in await wire_frames(acc_sim, "openai", "o4-mini") if f.get("usage")][-1]["usage"]
    events = await run_route(loaded, "reasoning", sim=acc_sim)
    (hop,) = attempts(events)
    out = count_text(hop.output, ENC)
    # On the wire, reasoning_tokens is *part of* completion_tokens
    assert wire["completion_tokens"] == out + reasoning
    assert wire["completion_tokens_details"]["reasoning_tokens"] == reasoning

    usage = reported_usage(hop)
    assert (usage["output_tokens"], usage["reasoning_tokens"]) == (out, reasoning)
    assert hop.output_tokens == out + reasoning
    prompt = prompt_tokens("o4-mini")
    hand = usd((prompt, O4_IN), (out, O4_OUT), (reasoning, O4_OUT))  # reasoning billed as output, once
    assert D(hop.cost["total"]) == hand
    assert D(hop.cost["breakdown"]["reasoning"]) == usd((reasoning, O4_OUT))
    assert hand not in (
        usd((prompt, O4_IN), (out + 2 * reasoning, O4_OUT)),  # doubled
        usd((prompt, O4_IN), (out, O4_OUT)),
    )  # dropped
    check_totals(events, loaded, tmp_path)


async def test_gemini_openai_shape_reports_reasoning_apart_and_it_is_billed_once(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    reasoning = 150
    wire = [f for f in await wire_frames(acc_sim, "openai", "gemini-2.5-flash") if f.get("usage")][-1]["usage"]
    events = await run_route(loaded, "gemini", sim=acc_sim)
    (hop,) = attempts(events)
    out = count_text(hop.output, ENC)
    prompt = prompt_tokens("gemini-2.5-flash")
    # Gemini's compatible endpoint: completion_tokens is the visible answer only; reasoning sits beside it
    assert (wire["completion_tokens"], wire["completion_tokens_details"]["reasoning_tokens"]) == (out, reasoning)
    assert wire["total_tokens"] == prompt + out + reasoning

    usage = reported_usage(hop)
    assert (usage["input_tokens"], usage["output_tokens"], usage["reasoning_tokens"]) == (prompt, out, reasoning)
    hand = usd((prompt, FLASH_IN), (out + reasoning, FLASH_OUT))  # "output price, including thinking tokens"
    assert D(hop.cost["total"]) == hand
    assert hop.price["source"] == GEMINI_PRICING
    check_totals(events, loaded, tmp_path)


async def test_anthropic_cache_read_and_both_cache_write_ttls_are_billed_exactly(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    read, write_5m, write_1h = 32, 16, 8  # the sim's dials for sonnet-cache
    prompt = prompt_tokens("claude-sonnet-4-5")
    fresh = prompt - read - write_5m - write_1h
    assert fresh > 0  # every bucket has tokens in it
    frames = await wire_frames(acc_sim, "anthropic", "claude-sonnet-4-5")
    start = next(f for f in frames if f["type"] == "message_start")["message"]["usage"]
    # Anthropic's shape: input_tokens *excludes* cache reads and writes; writes are split by TTL
    assert (start["input_tokens"], start["cache_read_input_tokens"], start["cache_creation_input_tokens"]) == (
        fresh,
        read,
        write_5m + write_1h,
    )
    assert start["cache_creation"] == {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h}

    events = await run_route(loaded, "claude_cache", sim=acc_sim)
    (hop,) = attempts(events)
    out = count_text(hop.output, ENC)
    usage = reported_usage(hop)
    assert (
        usage["input_tokens"],
        usage["cache_read_tokens"],
        usage["cache_write_5m_tokens"],
        usage["cache_write_1h_tokens"],
        usage["output_tokens"],
    ) == (fresh, read, write_5m, write_1h, out)
    assert hop.input_tokens == prompt
    hand = usd((fresh, SONNET_IN), (read, SONNET_HIT), (write_5m, SONNET_W5), (write_1h, SONNET_W1H), (out, SONNET_OUT))
    assert D(hop.cost["total"]) == hand
    # cache writes billed at the input rate, or all writes at the 5-minute rate, would be different money
    assert hand != usd((fresh + write_5m + write_1h, SONNET_IN), (read, SONNET_HIT), (out, SONNET_OUT))
    assert hand != usd((fresh, SONNET_IN), (read, SONNET_HIT), (write_5m + write_1h, SONNET_W5), (out, SONNET_OUT))
    assert hop.price["source"] == ANTHROPIC_PRICING
    check_totals(events, loaded, tmp_path)


async def test_anthropic_streamed_usage_is_cumulative_so_the_last_event_wins(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    model_id = "claude-sonnet-4-5-20250929"
    prompt = prompt_tokens(model_id)
    frames = await wire_frames(acc_sim, "anthropic", model_id)
    start = next(f for f in frames if f["type"] == "message_start")["message"]["usage"]
    final = next(f for f in frames if f["type"] == "message_delta")["usage"]
    # message_start says output_tokens 1 and message_delta repeats input_tokens: adding them up overcounts both
    assert (start["input_tokens"], start["output_tokens"]) == (prompt, 1)
    assert final["input_tokens"] == prompt and final["output_tokens"] > 1

    events = await run_route(loaded, "claude", sim=acc_sim)
    (hop,) = attempts(events)
    out = count_text(hop.output, ENC)
    assert final["output_tokens"] == out
    usage = reported_usage(hop)
    assert (usage["input_tokens"], usage["output_tokens"]) == (prompt, out)  # not 2 x prompt, not out + 1
    hand = usd((prompt, SONNET_IN), (out, SONNET_OUT))
    assert D(hop.cost["total"]) == hand
    assert D(hop.cost["breakdown"]["output"]) == usd((out, SONNET_OUT))
    check_totals(events, loaded, tmp_path)


async def test_openai_usage_chunk_with_empty_choices_is_the_reported_usage(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    model_id = "gpt-4o-mini-2024-07-18"
    frames = await wire_frames(acc_sim, "openai", model_id)
    # With include_usage the usage rides alone in the last chunk, whose `choices` is empty; the others say null
    assert frames[-1]["choices"] == [] and frames[-1]["usage"]["prompt_tokens"] > 0
    assert all(f["choices"] and f["usage"] is None for f in frames[:-1])

    events = await run_route(loaded, "plain", sim=acc_sim)
    (hop,) = attempts(events)
    out = count_text(hop.output, ENC)
    prompt = prompt_tokens(model_id)
    usage = reported_usage(hop)
    assert (
        (usage["input_tokens"], usage["output_tokens"])
        == (prompt, out)
        == (frames[-1]["usage"]["prompt_tokens"], frames[-1]["usage"]["completion_tokens"])
    )
    assert hop.reason is None and end_of(events).estimated is False
    assert D(hop.cost["total"]) == usd((prompt, MINI_IN), (out, MINI_OUT))
    check_totals(events, loaded, tmp_path)


NO_USAGE = [
    # route, wire model id, requests the server sees, (input, output) rates
    ("strict", "local-strict", 2, (MINI_IN, MINI_OUT)),  # 400 on stream_options, then once more without it
    ("silent", "local-silent", 1, (MINI_IN, MINI_OUT)),  # accepts stream_options, never sends the usage chunk
    ("no_usage", "local-no-usage", 1, (MINI_IN, MINI_OUT)),  # never reports usage at all
    ("silent_claude", "claude-silent", 1, (SONNET_IN, SONNET_OUT)),  # Anthropic stream without usage
]


@pytest.mark.parametrize(("route", "model_id", "requests", "rates"), NO_USAGE, ids=[n[0] for n in NO_USAGE])
async def test_a_stream_without_usage_is_estimated_with_the_tokenizer_never_zero(
    loaded: LoadedProfile,
    acc_sim: SimServer,
    tmp_path: Path,
    route: str,
    model_id: str,
    requests: int,
    rates: tuple[D, D],
) -> None:
    before = acc_sim.request_count(model_id)
    events = await run_route(loaded, route, sim=acc_sim)
    assert acc_sim.request_count(model_id) - before == requests
    (hop,) = attempts(events)
    end = end_of(events)
    assert hop.status == "ok" and end.status == "ok" and hop.output
    usage = hop.usage
    assert usage["input_source"] == usage["output_source"] == "estimated"
    assert "estimated" in hop.reason and end.estimated is True
    prompt, out = prompt_tokens(model_id), count_text(hop.output, ENC)
    assert (usage["input_tokens"], usage["output_tokens"]) == (prompt, out)
    hand = usd((prompt, rates[0]), (out, rates[1]))
    assert hand > 0 and D(hop.cost["total"]) == hand
    check_totals(events, loaded, tmp_path)


BROKEN = [
    # route, broken model's wire id, k tokens sent before the break, hop status, rates, run status
    ("drop_then_fallback", "gpt-4o-mini-drop", 7, "error", (MINI_IN, MINI_OUT), "ok"),
    ("drop_alone", "gpt-4o-mini-drop", 7, "error", (MINI_IN, MINI_OUT), "error"),
    ("stall_then_fallback", "gpt-4o-mini-stall", 9, "timeout", (MINI_IN, MINI_OUT), "ok"),
    ("claude_drop_then_fallback", "claude-drop", 5, "error", (SONNET_IN, SONNET_OUT), "ok"),
]


@pytest.mark.parametrize(
    ("route", "model_id", "k", "status", "rates", "run_status"), BROKEN, ids=[b[0] for b in BROKEN]
)
async def test_a_stream_cut_before_its_usage_is_costed_for_what_was_sent_and_received(
    loaded: LoadedProfile,
    acc_sim: SimServer,
    tmp_path: Path,
    route: str,
    model_id: str,
    k: int,
    status: str,
    rates: tuple[D, D],
    run_status: str,
) -> None:
    events = await run_route(loaded, route, sim=acc_sim)
    broken = attempts(events)[0]
    assert broken.status == status and broken.error_class in ("connection", "timeout")
    received = tokens_of(events, broken.hop_id)
    assert broken.output == received and count_text(received, ENC) == k  # the sim cut it after k tokens
    usage = broken.usage
    # Anthropic states the prompt side in message_start, before any text: that stays "reported" after the break
    input_source = "reported" if model_id.startswith("claude") else "estimated"
    assert (usage["input_source"], usage["output_source"]) == (input_source, "estimated")
    prompt = prompt_tokens(model_id)
    assert (usage["input_tokens"], usage["output_tokens"]) == (prompt, k)
    hand = usd((prompt, rates[0]), (k, rates[1]))
    assert hand > 0 and D(broken.cost["total"]) == hand
    end = end_of(events)
    assert end.status == run_status and end.estimated is True
    if run_status == "ok":  # the fallback served and reported its own usage; the run paid for both
        served = attempts(events)[1]
        assert served.status == "ok" and served.usage["input_source"] == "reported"
        assert D(end.cost["total"]) == hand + served.cost_usd
    else:
        assert D(end.cost["total"]) == hand
    check_totals(events, loaded, tmp_path)


async def test_a_call_that_never_reached_the_provider_costs_nothing(
    loaded: LoadedProfile, acc_sim: SimServer, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on once the probe closes: connect is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = loaded.profile
    down = profile.providers["down"].model_copy(update={"base_url": f"http://127.0.0.1:{port}/v1"})
    patched = replace(loaded, profile=profile.model_copy(update={"providers": {**profile.providers, "down": down}}))
    events = await run_route(
        patched, "down_then_fallback", sim=acc_sim, environ={"WB_ACCOUNTING_TEST_KEY": "fake-key-not-a-key"}
    )
    unreachable, served = attempts(events)
    assert (unreachable.status, unreachable.error_class, unreachable.retryable) == ("error", "connection", True)
    # Nothing was sent, so nothing was spent: no estimate of a prompt the provider never saw
    assert (unreachable.input_tokens, unreachable.output_tokens, unreachable.cost_usd) == (0, 0, 0)
    assert "not billed" in unreachable.reason
    prompt, out = prompt_tokens("gpt-4o-mini-2024-07-18"), count_text(served.output, ENC)
    assert served.status == "ok" and D(served.cost["total"]) == usd((prompt, MINI_IN), (out, MINI_OUT))
    end = end_of(events)
    assert end.status == "ok" and D(end.cost["total"]) == served.cost_usd and end.estimated is False
    check_totals(events, patched, tmp_path)
