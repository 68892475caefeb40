"""Tool calls through the provider contract (issue 21 item 1), both wire formats, over real loopback HTTP.

Against the simulator: single and parallel calls, streamed and not, arguments split over many deltas, arguments
that are not JSON (a classified `malformed` error), an unknown tool name (passed on: the caller decides), a
content kind no API has (reported as `UnsupportedContent`, never dropped), and the round trip — the call and
its result sent back, answered from the result's text. Against a canned server: what each adapter puts on the
wire for tools, tool choice, parallel calls and tool turns, and the published shapes of a streamed tool call
(OpenAI's documented chunk sequence; Anthropic's `tool_use` + `input_json_delta`, with `thinking` first).

Expected arguments are written out by hand from the simulator's documented rules (a `name=value` pair in the
message, else the schema's default / examples / first enum value, else a typed placeholder).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from canned_http import Canned  # type: ignore[import-not-found]

from workbench.providers.anthropic import AnthropicAdapter, build_anthropic_body
from workbench.providers.base import (
    Adapter,
    ChatRequest,
    Chunk,
    ProviderError,
    StreamEnd,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UnsupportedContent,
)
from workbench.providers.content import Message, ToolCall, ToolCallAssembler, ToolChoice
from workbench.providers.openai_compat import OpenAICompatAdapter, build_openai_body
from workbench.providers.registry import sim_base_url

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "default": 1},
            "lang": {"type": "string", "examples": ["en", "fr"]},
            "detailed": {"type": "boolean"},
        },
        "required": ["city"],
    },
}
SEARCH = {
    "name": "search_docs",
    "description": "Search the product documentation for a phrase",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
}
ASK = "What's the weather like? city=Paris days: 3"
#: by the rules: city and days from the message, unit its first enum value, lang its first example, detailed false
WEATHER_ARGS = {"city": "Paris", "unit": "celsius", "days": 3, "lang": "en", "detailed": False}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False) as client:
        yield client


def make(wire: str, client: httpx.AsyncClient, url: str) -> Adapter:
    cls = OpenAICompatAdapter if wire == "openai" else AnthropicAdapter
    return cls(client, base_url=sim_base_url(url, wire), api_key="fake", provider_name=f"sim-{wire}")


def request(wire: str, *, stream: bool, text: str = ASK, tools: Any = (WEATHER, SEARCH), **dials: Any) -> ChatRequest:
    headers = {"x-sim-behaviour": json.dumps({"ttft_ms": 0, "tokens_per_s": 1e6, **dials})}
    return ChatRequest(
        model=MODELS[wire],
        messages=[{"role": "user", "content": text}],
        tools=tools,
        stream=stream,
        extra_headers=headers,
    )


async def collect(adapter: Adapter, req: ChatRequest) -> list[Chunk]:
    return [chunk async for chunk in adapter.stream(req)]


def assembled(chunks: list[Chunk]) -> tuple[ToolCall, ...]:
    calls = ToolCallAssembler()
    for chunk in chunks:
        if isinstance(chunk, ToolCallDelta):
            calls.add(chunk.index, chunk.id, chunk.name, chunk.arguments)
    return calls.calls()


WIRES_MODES = [(w, s) for w in ("openai", "anthropic") for s in (True, False)]


@pytest.mark.parametrize(("wire", "stream"), WIRES_MODES)
async def test_a_single_call(http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool) -> None:
    chunks = await collect(make(wire, http, sim_url), request(wire, stream=stream))
    (call,) = assembled(chunks)
    assert call.name == "get_weather" and call.parsed() == WEATHER_ARGS
    assert call.id.startswith("call_" if wire == "openai" else "toolu_")
    assert not [c for c in chunks if isinstance(c, TextDelta)]  # the turn is a call, not text
    end = chunks[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "tool_calls"
    assert end.raw_reason == ("tool_calls" if wire == "openai" else "tool_use")


@pytest.mark.parametrize(("wire", "stream"), WIRES_MODES)
async def test_two_calls_in_one_turn_split_over_many_deltas(
    http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool
) -> None:
    req = request(wire, stream=stream, parallel_tool_calls=True, tool_argument_pieces=9)
    chunks = await collect(make(wire, http, sim_url), req)
    calls = assembled(chunks)
    assert [c.name for c in calls] == ["get_weather", "search_docs"]
    assert calls[0].parsed() == WEATHER_ARGS and calls[1].parsed() == {"query": "<query>"}
    assert len({c.id for c in calls}) == 2
    fragments = [c for c in chunks if isinstance(c, ToolCallDelta) and c.arguments]
    if stream:  # nine argument fragments per call, each only a piece of the JSON
        assert len(fragments) == 18 and all(len(f.arguments) < 10 for f in fragments)
    else:
        assert len(fragments) == 2


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_parallel_calls_refused_by_the_request_make_one_call(
    http: httpx.AsyncClient, sim_url: str, wire: str
) -> None:
    req = request(wire, stream=True, parallel_tool_calls=True)
    req = ChatRequest(
        model=req.model,
        messages=req.messages,
        tools=req.tools,
        parallel_tool_calls=False,
        extra_headers=req.extra_headers,
    )
    assert len(assembled(await collect(make(wire, http, sim_url), req))) == 1


@pytest.mark.parametrize(("wire", "stream"), WIRES_MODES)
async def test_malformed_arguments_are_a_malformed_error(
    http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool
) -> None:
    req = request(wire, stream=stream, faults=[{"kind": "tool_arguments_malformed"}])
    with pytest.raises(ProviderError) as caught:
        await collect(make(wire, http, sim_url), req)
    assert caught.value.kind == "malformed" and caught.value.retryable
    assert "get_weather" in caught.value.message


@pytest.mark.parametrize(("wire", "stream"), WIRES_MODES)
async def test_an_unknown_tool_name_is_passed_on(
    http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool
) -> None:
    chunks = await collect(make(wire, http, sim_url), request(wire, stream=stream, faults=[{"kind": "tool_unknown"}]))
    (call,) = assembled(chunks)
    assert call.name == "no_such_tool" and call.parsed() == WEATHER_ARGS


@pytest.mark.parametrize(("wire", "stream"), WIRES_MODES)
async def test_an_unknown_content_kind_is_reported_not_dropped(
    http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool
) -> None:
    chunks = await collect(make(wire, http, sim_url), request(wire, stream=stream, tools=(), unknown_content=True))
    odd = [c for c in chunks if isinstance(c, UnsupportedContent)]
    assert odd and all("hologram" in c.kind for c in odd)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta))  # the answer itself still arrives
    assert isinstance(chunks[-1], StreamEnd) and chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize(("wire", "stream"), WIRES_MODES)
async def test_round_trip_the_result_goes_back_and_is_used(
    http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool
) -> None:
    adapter = make(wire, http, sim_url)
    first = request(wire, stream=stream)
    (call,) = assembled(await collect(adapter, first))
    second = ChatRequest(
        model=first.model,
        messages=(
            *first.messages,
            Message.assistant(tool_calls=(call,)),
            Message.tool(call.id, call.name, "18 degrees and clear skies"),
        ),
        tools=first.tools,
        stream=stream,
        extra_headers=first.extra_headers,
    )
    chunks = await collect(adapter, second)
    text = "".join(c.text for c in chunks if isinstance(c, TextDelta))
    assert text == "According to get_weather: 18 degrees and clear skies"
    assert not assembled(chunks) and isinstance(chunks[-1], StreamEnd) and chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_a_failed_tool_result_is_said_so(http: httpx.AsyncClient, sim_url: str, wire: str) -> None:
    first = request(wire, stream=True)
    call = ToolCall("call_1" if wire == "openai" else "toolu_1", "get_weather", json.dumps(WEATHER_ARGS))
    req = ChatRequest(
        model=first.model,
        messages=(
            *first.messages,
            Message.assistant(tool_calls=(call,)),
            Message.tool(call.id, call.name, "timeout", is_error=True),
        ),
        tools=first.tools,
        extra_headers=first.extra_headers,
    )
    text = "".join(c.text for c in await collect(make(wire, http, sim_url), req) if isinstance(c, TextDelta))
    if wire == "anthropic":  # is_error travels as such
        assert text == "get_weather failed: timeout"
    else:  # OpenAI's wire has no is_error: the result's text says it
        assert text == "According to get_weather: error: timeout"


async def test_tool_choice_none_and_the_call_tools_dial_answer_in_text(http: httpx.AsyncClient, sim_url: str) -> None:
    adapter = make("openai", http, sim_url)
    base = request("openai", stream=True)
    none = ChatRequest(
        model=base.model, messages=base.messages, tools=base.tools, tool_choice="none", extra_headers=base.extra_headers
    )
    off = request("openai", stream=True, call_tools=False)
    for req in (none, off):
        chunks = await collect(adapter, req)
        assert not assembled(chunks) and any(isinstance(c, TextDelta) for c in chunks)


# -- what goes on the wire ------------------------------------------------------------------------------------


def tool_turns() -> ChatRequest:
    call_a = ToolCall("c1", "get_weather", '{"city":"Paris"}')
    call_b = ToolCall("c2", "search_docs", '{"query":"umbrella"}')
    return ChatRequest(
        model="m",
        system="be brief",
        messages=(
            Message.user("weather and docs?"),
            Message.assistant("Let me look.", tool_calls=(call_a, call_b)),
            Message.tool("c1", "get_weather", "18C"),
            Message.tool("c2", "search_docs", "no such page", is_error=True),
            Message.user("thanks"),
        ),
        tools=(WEATHER, SEARCH),
        tool_choice=ToolChoice.tool("get_weather"),
        parallel_tool_calls=False,
        stream=False,
    )


def test_openai_body_carries_tools_choice_and_tool_turns() -> None:
    body = json.loads(json.dumps(build_openai_body(tool_turns(), include_usage=False)))  # as sent
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": t["name"], "description": t["description"], "parameters": t["parameters"]},
        }
        for t in (WEATHER, SEARCH)
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert body["messages"][2] == {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "c2", "type": "function", "function": {"name": "search_docs", "arguments": '{"query":"umbrella"}'}},
        ],
    }
    assert body["messages"][3:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "tool", "tool_call_id": "c2", "content": "error: no such page"},
        {"role": "user", "content": "thanks"},
    ]


def test_anthropic_body_carries_tools_choice_and_tool_turns() -> None:
    body = json.loads(json.dumps(build_anthropic_body(tool_turns())))  # as sent
    assert body["tools"] == [
        {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]} for t in (WEATHER, SEARCH)
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "c2", "name": "search_docs", "input": {"query": "umbrella"}},
        ],
    }
    assert body["messages"][2] == {  # both results, and the user's next words, in one user turn
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "c2", "content": "no such page", "is_error": True},
            {"type": "text", "text": "thanks"},
        ],
    }
    assert len(body["messages"]) == 3
    for mode, wire in (("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"})):
        req = ChatRequest(model="m", messages=[{"role": "user", "content": "x"}], tools=(WEATHER,), tool_choice=mode)
        assert build_anthropic_body(req)["tool_choice"] == wire


def test_no_tool_choice_without_tools() -> None:
    req = ChatRequest(
        model="m", messages=[{"role": "user", "content": "x"}], tool_choice="required", parallel_tool_calls=False
    )
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & build_openai_body(req, include_usage=False).keys()
    assert not {"tools", "tool_choice"} & build_anthropic_body(req).keys()


def frame(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


async def test_openai_documented_streamed_tool_calls(canned: Canned, client: httpx.AsyncClient) -> None:
    """The chunk sequence OpenAI documents for parallel calls: id and name first, arguments in later chunks."""

    def delta(d: dict[str, Any], finish: str | None = None) -> str:
        return frame({"choices": [{"index": 0, "delta": d, "finish_reason": finish}]})

    canned.sse(
        delta({"role": "assistant", "content": None}),
        delta(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
                ]
            }
        ),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"x"'}}]}),
        delta(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": ""}}
                ]
            }
        ),
        delta({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        delta({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        delta({}, "tool_calls"),
        "data: [DONE]\n\n",
    )
    adapter = OpenAICompatAdapter(client, base_url=f"{canned.url}/v1")
    chunks = await collect(
        adapter, ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], tools=(WEATHER,))
    )
    assert assembled(chunks) == (ToolCall("call_a", "f", '{"x": 1}'), ToolCall("call_b", "g", "{}"))
    assert chunks[-1] == StreamEnd("tool_calls")


async def test_anthropic_documented_tool_use_stream(canned: Canned, client: httpx.AsyncClient) -> None:
    """Thinking, text, then a tool_use block whose input arrives as input_json_delta fragments."""

    def ev(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    canned.sse(
        ev(
            "message_start",
            {
                "message": {
                    "id": "m",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "usage": {"input_tokens": 9, "output_tokens": 1},
                }
            },
        ),
        ev("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        ev("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "need weather"}}),
        ev("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
        ev("content_block_stop", {"index": 0}),
        ev("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        ev("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "Checking."}}),
        ev("content_block_stop", {"index": 1}),
        ev(
            "content_block_start",
            {"index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}},
        ),
        ev("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ev("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'}}),
        ev("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}}),
        ev("content_block_stop", {"index": 2}),
        ev("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 40}}),
        ev("message_stop", {}),
    )
    adapter = AnthropicAdapter(client, base_url=canned.url)
    chunks = await collect(
        adapter, ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], tools=(WEATHER,))
    )
    kinds = [c for c in chunks if not type(c).__name__ == "UsageReport"]
    assert kinds[0] == ThinkingDelta("need weather") and kinds[1] == TextDelta("Checking.")
    assert assembled(chunks) == (ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),)
    assert chunks[-1] == StreamEnd("tool_calls")
    assert not [c for c in chunks if isinstance(c, UnsupportedContent)]  # signature_delta is known, not odd
