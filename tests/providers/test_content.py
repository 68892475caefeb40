"""The typed chat content (issue 21 item 1): requests immutable and hashable (a cache or a proxy keys on them),
plain text still easy to write, tool-call fragments assembled and checked, and token estimates covering tool
calls and tool results (the figures are worked out here from the tokenizer, by hand)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from workbench.providers.base import ChatRequest
from workbench.providers.content import (
    FrozenJSON,
    MalformedToolCall,
    Message,
    ToolCall,
    ToolCallAssembler,
    ToolChoice,
    ToolSpec,
)
from workbench.tokens import count_messages, count_text, count_tools

TOOL = {"name": "f", "description": "does f", "parameters": {"type": "object", "properties": {"x": {"enum": [1, 2]}}}}


def make(**kw: object) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        tools=[TOOL],
        extra_body={"top_p": 0.5, "nested": {"a": [1, 2]}},
        extra_headers={"x-a": "1"},
        **kw,  # type: ignore[arg-type]
    )


def test_equal_requests_hash_alike_and_differences_show() -> None:
    a, b = make(), make()
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.messages == (Message.user("hi"),) and a.tools == (ToolSpec.from_dict(TOOL),)
    assert hash(make(tool_choice="required")) != hash(a)
    assert make(tool_choice="f").tool_choice == ToolChoice.tool("f")
    assert hash(dataclasses.replace(a, max_tokens=5)) != hash(a)


def test_a_request_cannot_be_changed() -> None:
    request = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.max_tokens = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        request.extra_body["top_p"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        request.tools[0].parameters["type"] = "array"  # type: ignore[index]
    nested = request.extra_body["nested"]
    assert isinstance(nested, FrozenJSON) and nested["a"] == (1, 2)
    assert json.loads(json.dumps(request.extra_body)) == {"top_p": 0.5, "nested": {"a": [1, 2]}}


def test_messages_from_dicts_keep_tool_turns() -> None:
    raw = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c", "content": "ok"},
    ]
    typed = ChatRequest(model="m", messages=raw).messages
    assert typed == (Message.assistant(tool_calls=(ToolCall("c", "f", "{}"),)), Message("tool", "ok", tool_call_id="c"))
    assert [m.to_dict() for m in typed] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "ok", "tool_call_id": "c"},
    ]
    with pytest.raises(ValueError):
        Message("tool", "no id")
    with pytest.raises(ValueError):
        Message("wizard", "x")  # type: ignore[arg-type]


def test_assembler_joins_fragments_and_refuses_what_is_not_an_object() -> None:
    calls = ToolCallAssembler()
    calls.add(1, "b", "g", "")
    calls.add(0, "a", "f", '{"x"')
    calls.add(1, None, None, "[1]")
    calls.add(0, None, None, ": 1}")
    assert calls.calls(check=False) == (ToolCall("a", "f", '{"x": 1}'), ToolCall("b", "g", "[1]"))
    with pytest.raises(MalformedToolCall, match="not an object"):
        calls.calls()
    empty = ToolCallAssembler()
    empty.add(0, "a", "f", "")
    assert empty.calls() == (ToolCall("a", "f", "{}"),)  # no arguments at all: an empty object


def test_token_estimates_count_tool_calls_and_results() -> None:
    arguments = '{"city":"Paris"}'
    openai_form = [
        {"role": "user", "content": "weather?"},
        Message.assistant(tool_calls=(ToolCall("c1", "get_weather", arguments),)).to_dict(),
        {"role": "tool", "tool_call_id": "c1", "content": "18C and clear"},
    ]
    # per message 3 framing tokens, 3 for the reply; texts: the question, the call's name and arguments, the
    # result and its call id (a string field, as the cookbook's rule counts every string value)
    expected = (
        3 * 3
        + 3
        + sum(
            count_text(t)
            for t in ("user", "weather?", "assistant", "get_weather", arguments, "tool", "c1", "18C and clear")
        )
    )
    assert count_messages(openai_form, model="gpt-4o") == expected
    anthropic_form = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "18C and clear"}]},
    ]
    expected_anthropic = (
        3 * 3
        + 3
        + sum(
            count_text(t) for t in ("user", "weather?", "assistant", "get_weather", arguments, "user", "18C and clear")
        )
    )
    assert count_messages(anthropic_form, model="claude-x") == expected_anthropic


@pytest.mark.parametrize(
    ("model", "choice", "published"),
    [
        ("claude-sonnet-4-5", "auto", 346),
        ("claude-opus-4-1", "none", 346),
        ("claude-sonnet-4-5", "required", 313),
        ("claude-haiku-4-5", "get_weather", 313),
        ("claude-3-opus-20240229", "auto", 530),
        ("claude-3-haiku-20240307", "required", 340),
        ("gpt-4o", "auto", 0),  # OpenAI publishes no such prompt: its tool rendering is all there is
    ],
)
def test_offering_tools_adds_the_providers_published_tool_prompt(model: str, choice: str, published: int) -> None:
    """Anthropic's "Tool use pricing and tokens" table: the system prompt it adds whenever tools are offered."""
    messages = [{"role": "user", "content": "weather?"}]
    tools = [TOOL]
    added = count_messages(messages, model=model, tools=tools, tool_choice=choice) - count_messages(
        messages, model=model
    )
    assert added == count_tools(tools, model=model) + published


def test_nothing_in_a_message_dict_is_dropped_silently() -> None:
    named = Message.from_dict({"role": "user", "content": "hi", "name": "ada"})
    assert named.to_dict() == {"role": "user", "content": "hi", "name": "ada"}
    parts = {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    assert Message.from_dict(parts).content == "ab"
    image = {
        "role": "user",
        "content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "x"}}],
    }
    with pytest.raises(ValueError, match="image_url are not supported"):
        Message.from_dict(image)
