"""The simulator's tool calls, parsed by the official SDKs with their own helpers (issue 21 item 1).

openai: `chat.completions.stream(...).get_final_completion()` accumulates streamed `tool_calls` deltas (and
`create()` gives `message.tool_calls`); anthropic: `messages.stream(...).get_final_message()` assembles `tool_use`
blocks from `input_json_delta` events (and `create()` gives them whole). Also the simulator's own rules: which
tool it picks, how it fills each argument, what it does after a tool result, and that it is deterministic.
Expected arguments are written out from the documented rules, never read from the simulator.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from sim_helpers import dial  # type: ignore[import-not-found]

from workbench.tokens import count_messages, count_text

FAST = {"ttft_ms": 0, "tokens_per_s": 1e6}
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "default": 1},
        },
        "required": ["city"],
    },
}
CONVERT = {
    "name": "convert_currency",
    "description": "Convert an amount of money from one currency to another",
    "parameters": {
        "type": "object",
        "properties": {
            "amount": {"type": "number"},
            "to": {"type": "string", "examples": ["EUR"]},
            "exact": {"type": "boolean"},
            "note": {"type": "string"},
        },
    },
}
OAI_TOOLS = [{"type": "function", "function": t} for t in (WEATHER, CONVERT)]
ANT_TOOLS = [
    {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]} for t in (WEATHER, CONVERT)
]


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("pieces", [1, 25])
def test_openai_sdk_accumulates_streamed_parallel_calls(oai: openai.OpenAI, pieces: int) -> None:
    with oai.chat.completions.stream(
        model="gpt-4o-mini",
        messages=ask("Please convert amount=12.5 to: JPY money and tell me weather city='New York'"),
        tools=OAI_TOOLS,
        extra_headers=dial(**FAST, parallel_tool_calls=True, tool_argument_pieces=pieces),
    ) as stream:
        done = [e for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    # convert_currency shares convert/amount/to/money with the message, get_weather weather/city: best first
    assert [c.function.name for c in calls] == ["convert_currency", "get_weather"]
    assert json.loads(calls[0].function.arguments) == {"amount": 12.5, "to": "JPY", "exact": False, "note": "<note>"}
    assert json.loads(calls[1].function.arguments) == {"city": "New York", "unit": "celsius", "days": 1}
    assert len(done) == 2 and all(c.id.startswith("call_") for c in calls)
    assert final.usage is None or final.usage.completion_tokens == sum(
        count_text(c.function.name) + count_text(c.function.arguments) for c in calls
    )


def test_openai_sdk_non_stream_tool_calls_and_usage_counting_the_tools(oai: openai.OpenAI) -> None:
    messages = ask("weather in city=Oslo please")
    r = oai.chat.completions.create(model="gpt-4o", messages=messages, tools=OAI_TOOLS, extra_headers=dial(**FAST))
    (call,) = r.choices[0].message.tool_calls or []
    assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo", "unit": "celsius", "days": 1}
    assert r.usage is not None
    # the prompt's tools are counted (OpenAI's published rule for tool definitions)
    assert r.usage.prompt_tokens == count_messages(messages, model="gpt-4o", tools=OAI_TOOLS)
    assert r.usage.prompt_tokens > count_messages(messages, model="gpt-4o")


def test_openai_sdk_round_trip_answers_from_the_result(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(
        model="gpt-4o", messages=ask("weather city=Oslo"), tools=OAI_TOOLS, extra_headers=dial(**FAST)
    )
    call = (first.choices[0].message.tool_calls or [])[0]
    history = [
        *ask("weather city=Oslo"),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "-3C, snow"},
    ]
    with oai.chat.completions.stream(
        model="gpt-4o", messages=history, tools=OAI_TOOLS, extra_headers=dial(**FAST)
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "According to get_weather: -3C, snow"
    assert final.choices[0].finish_reason == "stop" and not final.choices[0].message.tool_calls


def test_anthropic_sdk_assembles_streamed_tool_use_blocks(anth: anthropic.Anthropic) -> None:
    with anth.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=300,
        messages=ask("Tell me the weather, unit: fahrenheit, days=2 city: Lima"),
        tools=ANT_TOOLS,
        extra_headers=dial(**FAST, tool_argument_pieces=11, parallel_tool_calls=True),
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    blocks = [b for b in message.content if b.type == "tool_use"]
    assert [b.name for b in blocks] == ["get_weather", "convert_currency"]
    assert blocks[0].input == {"city": "Lima", "unit": "fahrenheit", "days": 2}
    assert blocks[1].input == {"amount": 0.0, "to": "EUR", "exact": False, "note": "<note>"}
    assert all(b.id.startswith("toolu_") for b in blocks)


def test_anthropic_sdk_named_choice_non_stream_and_round_trip(anth: anthropic.Anthropic) -> None:
    question = ask("What is the weather in city=Rome?")
    first = anth.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=300,
        messages=question,
        tools=ANT_TOOLS,
        tool_choice={"type": "tool", "name": "convert_currency"},  # the named tool wins over the best match
        extra_headers=dial(**FAST),
    )
    (block,) = [b for b in first.content if b.type == "tool_use"]
    assert block.name == "convert_currency" and first.stop_reason == "tool_use"
    second = anth.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=300,
        messages=[
            *question,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "1 EUR = 1.1 USD"}],
            },
        ],
        tools=ANT_TOOLS,
        extra_headers=dial(**FAST),
    )
    assert second.stop_reason == "end_turn"
    assert [b.text for b in second.content if b.type == "text"] == ["According to convert_currency: 1 EUR = 1.1 USD"]


def test_a_tool_named_in_the_message_wins_and_answers_repeat(oai: openai.OpenAI) -> None:
    # the words favour the weather tool, but the message names the other one
    text = "use convert_currency for the weather forecast in the city"
    seen = set()
    for _ in range(2):
        r = oai.chat.completions.create(
            model="gpt-4o", messages=ask(text), tools=OAI_TOOLS, extra_headers={**dial(**FAST), "x-sim-seed": "3"}
        )
        (call,) = r.choices[0].message.tool_calls or []
        seen.add((call.function.name, call.function.arguments))
    assert seen == {("convert_currency", '{"amount":0.0,"to":"EUR","exact":false,"note":"<note>"}')}


def test_the_call_tools_dial_off_answers_in_text(anth: anthropic.Anthropic) -> None:
    r = anth.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=ask("weather city=Rome"),
        tools=ANT_TOOLS,
        extra_headers=dial(**FAST, call_tools=False),
    )
    assert r.stop_reason == "end_turn" and [b.type for b in r.content] == ["text"]


def test_shown_thinking_reaches_the_sdks_as_thinking_not_answer(oai: openai.OpenAI, anth: anthropic.Anthropic) -> None:
    question = ask("Why does bread rise?")
    thought = "The question is about: Why does bread rise?. I will answer it plainly and check the facts first."
    with anth.messages.stream(
        model="claude-sonnet-4-5", max_tokens=300, messages=question, extra_headers=dial(**FAST, show_thinking=True)
    ) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == thought and message.content[0].signature  # type: ignore[union-attr]
    assert thought not in message.content[1].text  # type: ignore[union-attr]
    r = oai.chat.completions.create(model="gpt-4o", messages=question, extra_headers=dial(**FAST, show_thinking=True))
    assert (r.choices[0].message.model_extra or {}).get("reasoning_content") == thought
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens == count_text(thought)
