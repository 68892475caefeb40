"""The Anthropic Messages adapter against exact wire bytes over loopback HTTP (the `canned` server)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from canned_http import Canned  # type: ignore[import-not-found]

from workbench.accounting.usage import Usage
from workbench.providers.anthropic import AnthropicAdapter, build_anthropic_body
from workbench.providers.base import ChatRequest, Chunk, ProviderError, StreamEnd, TextDelta, ThinkingDelta, UsageReport


def ev(name: str, obj: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps({'type': name, **obj})}\n\n"


def start(usage: dict[str, Any] | None) -> str:
    message: dict[str, Any] = {"id": "msg_1", "type": "message", "role": "assistant", "content": []}
    if usage is not None:
        message["usage"] = usage
    return ev("message_start", {"message": message})


def text(t: str, index: int = 0) -> str:
    return ev("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": t}})


STOP = ev("message_stop", {})


def adapter(canned: Canned, client: httpx.AsyncClient, base: str = "", **kwargs: Any) -> AnthropicAdapter:
    return AnthropicAdapter(client, base_url=canned.url + base, provider_name="claude", **kwargs)


def req(**kwargs: Any) -> ChatRequest:
    return ChatRequest(model="claude-x", messages=[{"role": "user", "content": "hi"}], **kwargs)


async def collect(a: AnthropicAdapter, request: ChatRequest) -> list[Chunk]:
    return [chunk async for chunk in a.stream(request)]


@pytest.mark.parametrize("base", ["", "/", "/v1", "/v1/"])
async def test_url_and_headers(canned: Canned, client: httpx.AsyncClient, base: str) -> None:
    canned.sse(start(None), STOP)
    await collect(
        adapter(canned, client, base, api_key="fake-ant-key", headers={"anthropic-beta": "b1"}),
        req(extra_headers={"X-Trace": "t"}),
    )
    seen = canned.requests[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == "fake-ant-key"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["content-type"] == "application/json"
    assert (seen.headers["anthropic-beta"], seen.headers["x-trace"]) == ("b1", "t")
    assert "authorization" not in seen.headers


def test_body_moves_system_messages_out_of_the_list() -> None:
    request = ChatRequest(
        model="c",
        system="rule one",
        messages=[{"role": "system", "content": "rule two"}, {"role": "user", "content": "q"}],
        temperature=0.2,
        max_tokens=50,
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}, "temperature": None},
    )
    assert build_anthropic_body(request) == {
        "model": "c",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "q"}],
        "system": "rule one\n\nrule two",
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }


async def test_stream_text_thinking_ping_and_cumulative_usage(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(
        start(
            {
                "input_tokens": 12,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 50,
                "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30},
                "output_tokens": 1,
            }
        ),
        ev("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        ev("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
        ev("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
        ev("content_block_stop", {"index": 0}),
        ev("ping", {}),
        ev("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        text("Hello", 1),
        text("", 1),
        text(" world", 1),
        ev("message_delta", {"delta": {"stop_reason": None}, "usage": {"output_tokens": 5}}),
        ev(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 42, "input_tokens": 12, "cache_read_input_tokens": 100},
            },
        ),
        STOP,
    )
    chunks = await collect(adapter(canned, client), req())
    early = chunks.pop(0)  # message_start's prompt side, reported before any text
    assert isinstance(early, UsageReport) and not early.final
    assert (early.usage.input_tokens, early.usage.cache_read_tokens, early.usage.input_source) == (12, 100, "reported")
    assert (early.usage.output_tokens, early.usage.output_source) == (0, "estimated")
    assert chunks.pop(0) == ThinkingDelta("hmm")  # reasoning: its own chunk, never answer text
    assert chunks[:2] == [TextDelta("Hello"), TextDelta(" world")]
    report = chunks[2]
    assert isinstance(report, UsageReport)
    assert report.usage == Usage(
        input_tokens=12,
        cache_read_tokens=100,
        cache_write_5m_tokens=20,
        cache_write_1h_tokens=30,
        output_tokens=42,
        reasoning_tokens=0,
        input_source="reported",
        output_source="reported",
    )  # 42, the last cumulative figure, not 1 + 5 + 42
    assert report.raw is not None and report.raw["output_tokens"] == 42
    assert chunks[3] == StreamEnd("stop") and chunks[3].raw_reason == "end_turn" and len(chunks) == 4


async def test_error_event_mid_stream(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(
        start({"input_tokens": 3, "output_tokens": 1}),
        text("par"),
        ev("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )
    seen: list[Chunk] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in adapter(canned, client).stream(req()):
            seen.append(chunk)
    assert [c for c in seen if not isinstance(c, UsageReport)] == [TextDelta("par")]
    assert (info.value.kind, info.value.retryable, info.value.message) == ("overloaded", True, "Overloaded")


async def test_missing_message_stop_is_a_connection_error(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(
        start({"input_tokens": 3, "output_tokens": 1}),
        text("a"),
        ev("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
    )
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req())
    assert info.value.kind == "connection" and "message_stop" in info.value.message


async def test_no_usage_means_no_report(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(start(None), text("a"), ev("message_delta", {"delta": {"stop_reason": "max_tokens"}}), STOP)
    assert await collect(adapter(canned, client), req()) == [TextDelta("a"), StreamEnd("length", "max_tokens")]


async def test_bad_json_event_is_malformed(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(start(None), 'event: content_block_delta\ndata: {"type": "content_bl\n\n', STOP)
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req())
    assert info.value.kind == "malformed"


async def test_non_stream_message(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.json(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "stop_reason": "end_turn",
            "content": [
                {"type": "thinking", "thinking": "..."},
                {"type": "text", "text": "An"},
                {"type": "text", "text": "swer"},
            ],
            "usage": {
                "input_tokens": 7,
                "cache_creation_input_tokens": 9,
                "cache_read_input_tokens": 0,
                "output_tokens": 11,
            },
        }
    )
    chunks = await collect(adapter(canned, client), req(stream=False))
    assert chunks.pop(0) == ThinkingDelta("...")
    assert chunks[0] == TextDelta("Answer")
    assert isinstance(chunks[1], UsageReport)
    assert (chunks[1].usage.cache_write_5m_tokens, chunks[1].usage.cache_write_1h_tokens) == (9, 0)
    assert chunks[2] == StreamEnd("stop")
    assert "stream" not in canned.requests[0].body


async def test_non_stream_error_in_200(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.json({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req(stream=False))
    assert (info.value.kind, info.value.status) == ("server", 200)


async def test_http_529(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.json({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, status=529)
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req())
    assert (info.value.kind, info.value.status, info.value.retryable) == ("overloaded", 529, True)
