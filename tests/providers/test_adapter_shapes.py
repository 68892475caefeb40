"""Property test: stream events and bodies of random JSON shapes, served over loopback HTTP, never make an adapter
raise anything but a classified `ProviderError` — `malformed` unless the shape carries an error object — and a
stream the adapter accepts comes out as well-typed chunks.

A seeded generator (no hypothesis): valid events of each wire format have random subtrees replaced by random
JSON values (lists where objects belong, numbers where text belongs, nesting, huge numbers, ...), plus wholly
random values. The seed is fixed, so a failure names a shape that reproduces."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest
from canned_http import Canned, Reply  # type: ignore[import-not-found]

from workbench.providers.anthropic import AnthropicAdapter
from workbench.providers.base import (
    ChatRequest,
    Chunk,
    ProviderError,
    StreamEnd,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UnsupportedContent,
    UsageReport,
)
from workbench.providers.openai_compat import OpenAICompatAdapter

SEED = 20261211
CASES = 250  # per adapter and mode
WORDS = ["", "x", "stop", "error", "text", "text_delta", "message_stop", "content_block_delta", "[DONE]", "é"]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(11 if depth < 4 else 7)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 7, 2**63, 10**30, -(10**20)])
    if pick == 3:
        return rng.choice([0.5, -2.5, 1e308, float("inf"), float("nan")])
    if pick in (4, 5, 6):
        return rng.choice(WORDS)
    if pick in (7, 8):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    keys = ["choices", "delta", "content", "text", "type", "usage", "error", "finish_reason", "message"]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def mutate(rng: random.Random, value: Any) -> Any:
    """`value` with one random subtree replaced by a random value."""
    if isinstance(value, dict) and value and rng.random() < 0.75:
        key = rng.choice(list(value))
        return {**value, key: mutate(rng, value[key])}
    if isinstance(value, list) and value and rng.random() < 0.75:
        i = rng.randrange(len(value))
        return [*value[:i], mutate(rng, value[i]), *value[i + 1 :]]
    return random_value(rng)


OPENAI_EVENTS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}},
]
OPENAI_BODY = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 0}},
}
ANTHROPIC_EVENTS = [
    {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
]
ANTHROPIC_BODY = {
    "type": "message",
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 5, "output_tokens": 1, "cache_creation": {"ephemeral_5m_input_tokens": 0}},
}


def openai_stream(rng: random.Random) -> tuple[list[Any], str]:
    events: list[Any] = [dict(e) for e in OPENAI_EVENTS]
    i = rng.randrange(len(events))
    events[i] = mutate(rng, events[i]) if rng.random() < 0.8 else random_value(rng)
    frames = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return events, frames


def anthropic_stream(rng: random.Random) -> tuple[list[Any], str]:
    events: list[Any] = [dict(e) for e in ANTHROPIC_EVENTS]
    i = rng.randrange(len(events))
    events[i] = mutate(rng, events[i]) if rng.random() < 0.8 else random_value(rng)
    frames = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    return events, frames + 'event: message_stop\ndata: {"type": "message_stop"}\n\n'


def check_clean(chunks: list[Chunk]) -> None:
    assert chunks and isinstance(chunks[-1], StreamEnd)
    assert chunks[-1].finish_reason in (None, "stop", "length", "tool_calls", "content_filter")
    for chunk in chunks:
        assert isinstance(chunk, (TextDelta, ThinkingDelta, ToolCallDelta, UnsupportedContent, UsageReport, StreamEnd))
        if isinstance(chunk, (ThinkingDelta, UnsupportedContent)):
            assert isinstance(chunk.text if isinstance(chunk, ThinkingDelta) else chunk.kind, str)
        if isinstance(chunk, ToolCallDelta):
            assert isinstance(chunk.index, int) and isinstance(chunk.arguments, str)
            assert chunk.name is None or isinstance(chunk.name, str)
        if isinstance(chunk, TextDelta):
            assert isinstance(chunk.text, str) and chunk.text
        if isinstance(chunk, UsageReport):
            u = chunk.usage
            counts = [u.input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens]
            counts += [u.output_tokens, u.reasoning_tokens]
            assert all(type(n) is int and 0 <= n <= 2**53 for n in counts), counts


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "whole"])
async def test_random_shapes_give_malformed_or_a_clean_result(
    canned: Canned, client: httpx.AsyncClient, wire: str, streamed: bool
) -> None:
    rng = random.Random(f"{SEED}|{wire}|{streamed}")
    if wire == "openai":
        adapter: Any = OpenAICompatAdapter(client, base_url=f"{canned.url}/v1", provider_name="p")
    else:
        adapter = AnthropicAdapter(client, base_url=canned.url, provider_name="p")
    outcomes = {"clean": 0, "malformed": 0, "other": 0}
    for _ in range(CASES):
        if streamed:
            shape, text = openai_stream(rng) if wire == "openai" else anthropic_stream(rng)
            canned.reply(Reply(chunks=[text.encode()]))
        else:
            base = OPENAI_BODY if wire == "openai" else ANTHROPIC_BODY
            shape = mutate(rng, base) if rng.random() < 0.8 else random_value(rng)
            canned.reply(Reply(chunks=[json.dumps(shape).encode()], headers={"content-type": "application/json"}))
        request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], stream=streamed)
        try:
            chunks = [chunk async for chunk in adapter.stream(request)]
        except ProviderError as err:
            if err.kind == "malformed":
                outcomes["malformed"] += 1
            else:
                # only an error object (or an Anthropic `error` event) may classify as something else
                assert "error" in json.dumps(shape), (err, shape)
                outcomes["other"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the defect: anything else escaping the adapter
            pytest.fail(f"{type(exc).__name__}: {exc} escaped the {wire} adapter for {json.dumps(shape)[:300]}")
        check_clean(chunks)
        outcomes["clean"] += 1
    # the generator reaches both outcomes, so the property is not vacuous
    assert outcomes["clean"] > 10 and outcomes["malformed"] > 10, outcomes


@pytest.mark.parametrize(
    "wire, event",
    [
        ("openai", {"choices": ["x"]}),
        ("openai", {"choices": [{"delta": ["content"]}]}),
        ("openai", {"choices": [{"delta": {"content": 5}}]}),
        ("openai", {"choices": [{"delta": {}, "finish_reason": 7}]}),
        ("openai", [1, 2]),
        ("anthropic", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": 5}}),
        ("anthropic", {"type": "message_start", "message": ["usage"]}),
        ("anthropic", {"type": "message_delta", "delta": {"stop_reason": ["end_turn"]}}),
        ("anthropic", 3),
    ],
)
async def test_the_reported_shapes_are_malformed(
    canned: Canned, client: httpx.AsyncClient, wire: str, event: Any
) -> None:
    frame = f"data: {json.dumps(event)}\n\n"
    if wire == "openai":
        adapter: Any = OpenAICompatAdapter(client, base_url=f"{canned.url}/v1", provider_name="p")
        canned.sse(frame, "data: [DONE]\n\n")
    else:
        adapter = AnthropicAdapter(client, base_url=canned.url, provider_name="p")
        canned.sse(frame, 'data: {"type": "message_stop"}\n\n')
    with pytest.raises(ProviderError) as info:
        async for _ in adapter.stream(ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])):
            pass
    assert info.value.kind == "malformed" and info.value.retryable is True
