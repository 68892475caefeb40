"""How a cut answer is continued is the wire format's business (the engine asks the adapter class, engine/step.py)."""

from __future__ import annotations

from workbench.providers.anthropic import AnthropicAdapter
from workbench.providers.openai_compat import OpenAICompatAdapter

ASK = "go on"
HISTORY = [{"role": "user", "content": "tell me"}]


def test_openai_wire_sends_the_prefix_then_asks_to_continue() -> None:
    messages, echo = OpenAICompatAdapter.continuation(HISTORY, "The sky is ", ASK)
    assert messages == [
        {"role": "user", "content": "tell me"},
        {"role": "assistant", "content": "The sky is "},
        {"role": "user", "content": "go on"},
    ]
    assert echo == ("The sky is ",)
    assert HISTORY == [{"role": "user", "content": "tell me"}]  # the caller's list is not changed


def test_anthropic_prefills_without_trailing_whitespace_and_drops_its_echo() -> None:
    messages, echo = AnthropicAdapter.continuation(HISTORY, "The sky is \n", ASK)
    assert messages == [{"role": "user", "content": "tell me"}, {"role": "assistant", "content": "The sky is"}]
    assert echo == ("The sky is \n", " \n")
    messages, echo = AnthropicAdapter.continuation(HISTORY, "done.", ASK)
    assert messages[-1] == {"role": "assistant", "content": "done."} and echo == ("done.",)


def test_anthropic_sends_no_empty_turn_for_an_all_whitespace_prefix() -> None:
    messages, echo = AnthropicAdapter.continuation(HISTORY, "  ", ASK)
    assert messages == HISTORY and echo == ("  ", "  ")


def test_api_root_says_where_a_wire_lives_under_a_server_root() -> None:
    from workbench.providers.registry import sim_base_url

    assert sim_base_url("http://127.0.0.1:9/", "openai") == "http://127.0.0.1:9/v1"
    assert sim_base_url("http://127.0.0.1:9", "anthropic") == "http://127.0.0.1:9"
