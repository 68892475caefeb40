"""The simulator speaks Anthropic Messages well enough for the official `anthropic` SDK, with true usage."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest
from sim_helpers import dial  # type: ignore[import-not-found]  # this folder is on sys.path (rootdir mode)

from workbench.tokens import count_messages, count_text

MODEL = "claude-sim-1"
PROMPT = "Compare glacier retreat in the Alps with glacier retreat in Patagonia."
MESSAGES = [{"role": "user", "content": PROMPT}]


def prompt_tokens(system: object = None, messages: list[dict] = MESSAGES) -> int:
    counted = ([{"role": "system", "content": system}] if system else []) + messages
    return count_messages(counted, model=MODEL, encoding="o200k_base")


def sse_events(sim_url: str, body: dict, headers: dict[str, str] | None = None) -> list[tuple[str, dict]]:
    events = []
    with httpx.stream("POST", f"{sim_url}/v1/messages", json=body, headers=headers or {}) as r:
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


def test_non_stream_message_and_usage(anth: anthropic.Anthropic) -> None:
    m = anth.messages.create(model=MODEL, max_tokens=200, system="Answer briefly.", messages=MESSAGES)
    assert m.id.startswith("msg_") and m.type == "message" and m.role == "assistant" and m.model == MODEL
    assert m.stop_reason == "end_turn" and m.stop_sequence is None
    text = m.content[0].text
    assert m.content[0].type == "text" and "glacier" in text.lower()
    assert m.usage.output_tokens == count_text(text)
    assert m.usage.input_tokens == prompt_tokens("Answer briefly.")
    assert m.usage.cache_read_input_tokens == 0 and m.usage.cache_creation_input_tokens == 0


def test_system_as_list_of_text_blocks_is_counted(anth: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "You are a glaciologist."}, {"type": "text", "text": "Cite nothing."}]
    m = anth.messages.create(model=MODEL, max_tokens=200, system=system, messages=MESSAGES)
    assert m.usage.input_tokens == prompt_tokens(system)


def test_stream_events_and_final_usage(anth: anthropic.Anthropic) -> None:
    with anth.messages.stream(model=MODEL, max_tokens=200, messages=MESSAGES) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    text = "".join(pieces)
    assert len(pieces) >= 10 and final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == count_text(text)
    assert final.usage.input_tokens == prompt_tokens()


def test_stream_event_order_and_message_start_usage(sim_url: str) -> None:
    body = {"model": MODEL, "max_tokens": 200, "messages": MESSAGES, "stream": True}
    events = sse_events(sim_url, body)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert all(name == data["type"] for name, data in events)
    start_usage = events[0][1]["message"]["usage"]
    assert start_usage["output_tokens"] == 1 and start_usage["input_tokens"] == prompt_tokens()
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == count_text(text)


def test_anthropic_shape_with_cache_reads_writes_and_reasoning(anth: anthropic.Anthropic) -> None:
    headers = dial(cached_tokens=6, cache_write_5m_tokens=4, cache_write_1h_tokens=3, reasoning_tokens=20)
    m = anth.messages.create(model=MODEL, max_tokens=500, messages=MESSAGES, extra_headers=headers)
    u = m.usage
    assert u.input_tokens == prompt_tokens() - 13
    assert u.cache_read_input_tokens == 6 and u.cache_creation_input_tokens == 7
    assert u.cache_creation.ephemeral_5m_input_tokens == 4 and u.cache_creation.ephemeral_1h_input_tokens == 3
    assert u.output_tokens == count_text(m.content[0].text) + 20
    with anth.messages.stream(model=MODEL, max_tokens=500, messages=MESSAGES, extra_headers=headers) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == u.output_tokens and final.usage.cache_read_input_tokens == 6


def test_cache_buckets_never_exceed_the_prompt(anth: anthropic.Anthropic) -> None:
    headers = dial(cached_tokens=5, cache_write_5m_tokens=10**6, cache_write_1h_tokens=10**6)
    u = anth.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, extra_headers=headers).usage
    assert u.input_tokens == 0 and u.cache_read_input_tokens == 5
    assert u.cache_creation_input_tokens == prompt_tokens() - 5 and u.cache_creation.ephemeral_1h_input_tokens == 0


def test_max_tokens_stop_reason(anth: anthropic.Anthropic) -> None:
    m = anth.messages.create(model=MODEL, max_tokens=6, messages=MESSAGES)
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == count_text(m.content[0].text) <= 6


def test_stop_sequences(anth: anthropic.Anthropic) -> None:
    full = anth.messages.create(model=MODEL, max_tokens=500, messages=MESSAGES).content[0].text
    word = full.split()[2]
    m = anth.messages.create(model=MODEL, max_tokens=500, messages=MESSAGES, stop_sequences=[word])
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == word
    assert m.content[0].text == full[: full.find(word)]


def test_usage_shape_none_and_openai_on_the_anthropic_wire(sim_url: str) -> None:
    body = {"model": MODEL, "max_tokens": 50, "messages": MESSAGES}
    url = f"{sim_url}/v1/messages"
    assert "usage" not in httpx.post(url, json=body, headers=dial(usage_shape="none")).json()
    usage = httpx.post(url, json=body, headers=dial(usage_shape="openai", cached_tokens=3)).json()["usage"]
    assert usage["prompt_tokens"] == prompt_tokens() and usage["prompt_tokens_details"]["cached_tokens"] == 3
    events = sse_events(sim_url, {**body, "stream": True}, dial(omit_stream_usage=True))
    assert all("usage" not in data.get("message", data) for _, data in events)


def test_missing_max_tokens_and_bad_json_are_400(sim_url: str, anth: anthropic.Anthropic) -> None:
    r = httpx.post(f"{sim_url}/v1/messages", json={"model": MODEL, "messages": MESSAGES})
    assert r.status_code == 400
    assert r.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }
    r = httpx.post(f"{sim_url}/v1/messages", content=b"[", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError):
        anth.messages.create(model=MODEL, max_tokens=10, messages=[])


def test_list_content_blocks_in_messages(anth: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "Describe volcanic basalt columns."}]}]
    m = anth.messages.create(model=MODEL, max_tokens=200, messages=messages)
    assert "basalt" in m.content[0].text.lower()
    assert m.usage.input_tokens == prompt_tokens(messages=messages)
