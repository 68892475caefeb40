"""The OpenAI-compatible adapter against exact wire bytes over loopback HTTP (the `canned` server)."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from canned_http import Canned, Reply  # type: ignore[import-not-found]

from workbench.providers.base import ChatRequest, Chunk, ProviderError, StreamEnd, TextDelta, ThinkingDelta, UsageReport
from workbench.providers.openai_compat import OpenAICompatAdapter, build_openai_body


def frame(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> str:
    d: dict[str, Any] = {} if content is None else {"content": content}
    d.update(extra)
    return frame({"choices": [{"index": 0, "delta": d, "finish_reason": finish}], "usage": None})


USAGE = {
    "prompt_tokens": 20,
    "completion_tokens": 9,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 3},
}


def adapter(canned: Canned, client: httpx.AsyncClient, **kwargs: Any) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(client, base_url=f"{canned.url}/v1/", provider_name="compat", **kwargs)


async def collect(a: OpenAICompatAdapter, request: ChatRequest) -> list[Chunk]:
    return [chunk async for chunk in a.stream(request)]


def req(**kwargs: Any) -> ChatRequest:
    return ChatRequest(model="m-1", messages=[{"role": "user", "content": "hi"}], **kwargs)


async def test_request_shape(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(delta("ok", "stop"), "data: [DONE]\n\n")
    a = adapter(canned, client, api_key="fake-abc", headers={"X-Title": "wb", "HTTP-Referer": "https://x"})
    await collect(
        a,
        req(
            system="be brief", max_tokens=77, temperature=0.5, extra_headers={"x-extra": "1"}, extra_body={"top_p": 0.9}
        ),
    )
    seen = canned.requests[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer fake-abc"
    assert (seen.headers["x-title"], seen.headers["http-referer"], seen.headers["x-extra"]) == ("wb", "https://x", "1")
    assert seen.body == {
        "model": "m-1",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_tokens": 77,
        "temperature": 0.5,
        "stream": True,
        "stream_options": {"include_usage": True},
        "top_p": 0.9,
    }


def test_body_without_optional_fields_and_extra_body_removal() -> None:
    body = build_openai_body(
        req(stream=False, extra_body={"max_tokens": None, "max_completion_tokens": 64}), include_usage=True
    )
    assert body == {"model": "m-1", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 64}


async def test_no_key_no_authorization_header(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(delta("ok", "stop"), "data: [DONE]\n\n")
    await collect(adapter(canned, client), req())
    assert "authorization" not in canned.requests[0].headers


async def test_role_only_keepalive_and_empty_frames_are_not_deltas(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(
        ": keep-alive\n\n",
        delta("", role="assistant"),
        delta(None, role="assistant"),
        ": OPENROUTER PROCESSING\n\n",
        delta("Hel"),
        delta(""),
        delta("lo", reasoning_content="hidden"),
        delta(None, "stop"),
        frame({"choices": [], "usage": USAGE}),
        "data: [DONE]\n\n",
    )
    chunks = await collect(adapter(canned, client), req())
    assert chunks[:3] == [TextDelta("Hel"), TextDelta("lo"), ThinkingDelta("hidden")]  # reasoning kept apart
    chunks.pop(2)
    assert isinstance(chunks[2], UsageReport) and chunks[2].raw == USAGE
    assert chunks[3] == StreamEnd("stop") and len(chunks) == 4


async def test_cr_line_endings_and_byte_sized_chunks(canned: Canned, client: httpx.AsyncClient) -> None:
    raw = (delta("a") + delta("b", "length") + "data: [DONE]\n\n").replace("\n", "\r").encode()
    canned.sse(*(raw[i : i + 1] for i in range(len(raw))))
    chunks = await collect(adapter(canned, client), req())
    assert chunks == [TextDelta("a"), TextDelta("b"), StreamEnd("length")]


async def test_usage_repeated_in_every_chunk_gives_one_report_with_the_last(
    canned: Canned, client: httpx.AsyncClient
) -> None:
    early = {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21}
    canned.sse(
        frame({"choices": [{"delta": {"content": "x"}, "finish_reason": None}], "usage": early}),
        frame({"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": USAGE}),
        "data: [DONE]\n\n",
    )
    chunks = await collect(adapter(canned, client), req())
    reports = [c for c in chunks if isinstance(c, UsageReport)]
    assert len(reports) == 1 and reports[0].raw == USAGE
    assert reports[0].usage.output_tokens == 6 and reports[0].usage.reasoning_tokens == 3


async def test_stream_without_done_is_a_connection_error(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(delta("partial"), delta(None, "stop"))
    seen: list[Chunk] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in adapter(canned, client).stream(req()):
            seen.append(chunk)
    assert seen == [TextDelta("partial")]
    assert info.value.kind == "connection" and info.value.retryable
    assert "stream ended early" in info.value.message


async def test_half_event_at_close_is_not_acted_on(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(delta("a"), "data: [DONE]")  # no blank line: never dispatched
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req())
    assert info.value.kind == "connection"


async def test_non_json_event_is_malformed(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(delta("a"), "data: {not json\n\n", "data: [DONE]\n\n")
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req())
    assert (info.value.kind, info.value.retryable) == ("malformed", True)
    assert info.value.body == "{not json"


async def test_error_object_mid_stream(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(
        delta("a"),
        frame({"error": {"message": "prompt is too long for this model", "code": "context_length_exceeded"}}),
    )
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req())
    assert (info.value.kind, info.value.retryable, info.value.status) == ("context_window", False, 200)


async def test_finish_reason_error_is_a_failure(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(
        delta("a"),
        frame(
            {
                "choices": [{"delta": {"content": ""}, "finish_reason": "error"}],
                "error": {"code": 502, "message": "Upstream provider died"},
            }
        ),
        "data: [DONE]\n\n",
    )
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req())
    assert info.value.kind == "server" and "Upstream provider died" in info.value.message


async def test_json_answer_to_a_stream_request(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.json(
        {"choices": [{"message": {"role": "assistant", "content": "whole"}, "finish_reason": "stop"}], "usage": USAGE}
    )
    chunks = await collect(adapter(canned, client), req())
    assert chunks[0] == TextDelta("whole") and isinstance(chunks[1], UsageReport) and chunks[2] == StreamEnd("stop")


async def test_non_stream_completion_and_list_content(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.json(
        {
            "choices": [
                {
                    "message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                    "finish_reason": "stop",
                }
            ]
        }
    )
    chunks = await collect(adapter(canned, client), req(stream=False))
    assert chunks == [TextDelta("ab"), StreamEnd("stop")]
    assert "stream" not in canned.requests[0].body and "stream_options" not in canned.requests[0].body


async def test_non_stream_error_objects(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.json({"error": {"message": "Bad gateway upstream", "type": "server_error"}})
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req(stream=False))
    assert info.value.kind == "server" and info.value.status == 200
    canned.json(
        [{"error": {"code": 429, "message": "Resource exhausted. Please retry in 2s.", "status": "RESOURCE_EXHAUSTED"}}]
    )
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req(stream=False))
    assert info.value.kind == "rate_limit" and info.value.retry_after_s == 2.0


async def test_non_stream_garbage_body_is_malformed(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.reply(Reply(chunks=[b"<html>oops</html>"], headers={"content-type": "text/html"}))
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req(stream=False))
    assert info.value.kind == "malformed"


REFUSAL = Reply(
    status=400,
    chunks=[
        json.dumps(
            {
                "error": {
                    "message": "Unrecognized request argument supplied: stream_options",
                    "type": "invalid_request_error",
                }
            }
        ).encode()
    ],
    headers={"content-type": "application/json"},
)
OK_STREAM = Reply(chunks=[delta("fine", "stop").encode(), b"data: [DONE]\n\n"])


async def test_stream_options_refusal_falls_back_once_and_is_remembered(
    canned: Canned, client: httpx.AsyncClient
) -> None:
    canned.reply(REFUSAL, OK_STREAM)
    a = adapter(canned, client)
    assert await collect(a, req()) == [TextDelta("fine"), StreamEnd("stop")]
    assert a.stream_options_refused
    await collect(a, req())
    assert ["stream_options" in r.body for r in canned.requests] == [True, False, False]


async def test_always_mode_reports_the_refusal(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.reply(REFUSAL, OK_STREAM)
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client, stream_usage="always"), req())
    assert info.value.kind == "bad_request" and len(canned.requests) == 1


async def test_never_mode_sends_no_stream_options(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.reply(OK_STREAM)
    await collect(adapter(canned, client, stream_usage="never"), req())
    assert "stream_options" not in canned.requests[0].body


async def test_http_errors_carry_retry_after(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.json(
        {"error": {"message": "Rate limit reached", "type": "tokens"}}, status=429, headers={"retry-after": "7"}
    )
    with pytest.raises(ProviderError) as info:
        await collect(adapter(canned, client), req())
    assert (info.value.kind, info.value.retry_after_s, info.value.provider, info.value.model) == (
        "rate_limit",
        7.0,
        "compat",
        "m-1",
    )


async def test_breaking_early_closes_the_response(canned: Canned, client: httpx.AsyncClient) -> None:
    canned.sse(*[delta(str(i)) for i in range(50)], "data: [DONE]\n\n")
    gen = adapter(canned, client).stream(req())
    first = await gen.__anext__()
    assert first == TextDelta("0")
    await gen.aclose()  # type: ignore[attr-defined]
    # the pooled connection was released: another call on the same client succeeds at once
    canned.sse(delta("again", "stop"), "data: [DONE]\n\n")
    assert (await collect(adapter(canned, client), req()))[0] == TextDelta("again")


async def test_fallback_stream_still_reports_volunteered_usage(canned: Canned, client: httpx.AsyncClient) -> None:
    # Mistral-style: no stream_options accepted, usage sent anyway on the finishing chunk
    final = frame({"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": USAGE})
    canned.reply(REFUSAL, Reply(chunks=[delta("hi").encode(), final.encode(), b"data: [DONE]\n\n"]))
    chunks = await collect(adapter(canned, client), req())
    assert chunks[0] == TextDelta("hi") and chunks[-1] == StreamEnd("stop")
    assert isinstance(chunks[1], UsageReport) and chunks[1].usage.cache_read_tokens == 4


async def test_connection_refused_is_a_connection_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and now has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    a = OpenAICompatAdapter(client, base_url=f"http://127.0.0.1:{port}/v1", api_key="fake-refused-123456")
    with pytest.raises(ProviderError) as info:
        await collect(a, req())
    assert (info.value.kind, info.value.retryable) == ("connection", True)
    assert "could not connect" in info.value.message and "fake-refused" not in str(info.value)
