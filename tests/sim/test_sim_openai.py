"""The simulator speaks OpenAI chat completions well enough for the official `openai` SDK, with true usage."""

from __future__ import annotations

import httpx
import openai
import pytest
from sim_helpers import dial  # type: ignore[import-not-found]  # this folder is on sys.path (rootdir mode)

from workbench.tokens import count_messages, count_text

PROMPT = "How should a bakery schedule sourdough fermentation around oven capacity?"
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}]


def prompt_tokens(messages: list[dict], model: str = "gpt-4o", encoding: str = "o200k_base") -> int:
    return count_messages(messages, model=model, encoding=encoding)


def test_non_stream_answer_and_usage_match_the_tokenizer(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == "gpt-4o"
    choice = r.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    text = choice.message.content
    assert text and text.rstrip()[-1] in ".!?"
    assert r.usage is not None
    assert r.usage.completion_tokens == count_text(text)
    assert r.usage.prompt_tokens == prompt_tokens(MESSAGES)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens_details.cached_tokens == 0


def test_answer_uses_words_of_the_prompt_and_reads_as_sentences(oai: openai.OpenAI) -> None:
    text = oai.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content or ""
    used = {w for w in ("bakery", "sourdough", "fermentation", "oven", "capacity", "schedule") if w in text.lower()}
    assert len(used) >= 2, text
    assert "lorem" not in text.lower()
    assert sum(text.count(p) for p in ".!?") >= 2


def test_stream_has_role_chunk_deltas_finish_and_usage_chunk(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    deltas = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert all(deltas) and len(deltas) >= 10  # token-sized pieces
    text = "".join(deltas)  # type: ignore[arg-type]
    assert chunks[-1].usage.completion_tokens == count_text(text)
    assert chunks[-1].usage.prompt_tokens == prompt_tokens(MESSAGES)
    assert len({c.id for c in chunks}) == 1


def test_stream_without_include_usage_sends_no_usage_and_no_usage_field(sim_url: str) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{sim_url}/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert not any('"usage"' in line for line in lines)


def test_stream_text_equals_non_stream_text(oai: openai.OpenAI) -> None:
    whole = oai.chat.completions.create(model="same", messages=MESSAGES).choices[0].message.content
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in oai.chat.completions.create(model="same", messages=MESSAGES, stream=True)
    )
    assert streamed == whole


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_with_finish_reason_length(oai: openai.OpenAI, param: str) -> None:
    r = oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, **{param: 7})
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == count_text(r.choices[0].message.content) <= 7
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, **{param: 7}))
    assert chunks[-1].choices[0].finish_reason == "length"


def test_answer_length_follows_answer_tokens(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=dial(answer_tokens=200))
    assert 150 <= r.usage.completion_tokens <= 250


def test_openai_usage_shape_with_cache_and_reasoning(oai: openai.OpenAI) -> None:
    headers = dial(cached_tokens=10, reasoning_tokens=30)
    r = oai.chat.completions.create(model="o4-mini", messages=MESSAGES, extra_headers=headers)
    visible = count_text(r.choices[0].message.content)
    p = prompt_tokens(MESSAGES, "o4-mini")
    u = r.usage
    assert u.prompt_tokens == p and u.prompt_tokens_details.cached_tokens == 10
    assert u.completion_tokens == visible + 30 and u.completion_tokens_details.reasoning_tokens == 30
    assert u.total_tokens == p + visible + 30


def test_gemini_openai_shape_reports_reasoning_apart(oai: openai.OpenAI) -> None:
    headers = dial(usage_shape="gemini_openai", reasoning_tokens=30)
    chunks = list(
        oai.chat.completions.create(
            model="gemini-2.5-flash",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        )
    )
    visible = count_text("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
    u = chunks[-1].usage
    assert u.completion_tokens == visible and u.completion_tokens_details.reasoning_tokens == 30
    assert u.total_tokens == u.prompt_tokens + visible + 30


def test_cached_tokens_are_clamped_to_the_prompt(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=dial(cached_tokens=10**6))
    assert r.usage.prompt_tokens_details.cached_tokens == r.usage.prompt_tokens


def test_anthropic_shape_on_the_openai_wire_uses_anthropic_names(sim_url: str) -> None:
    body = {"model": "x", "messages": MESSAGES, "max_tokens": 50}
    headers = dial(usage_shape="anthropic", cached_tokens=5, cache_write_1h_tokens=4)
    usage = httpx.post(f"{sim_url}/v1/chat/completions", json=body, headers=headers).json()["usage"]
    assert usage["cache_read_input_tokens"] == 5 and usage["cache_creation"]["ephemeral_1h_input_tokens"] == 4
    assert usage["input_tokens"] == prompt_tokens(MESSAGES, "x") - 9


def test_usage_shape_none_sends_no_usage(oai: openai.OpenAI) -> None:
    headers = dial(usage_shape="none")
    assert oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers).usage is None
    chunks = list(
        oai.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, extra_headers=headers
        )
    )
    assert all(c.usage is None for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"


def test_omit_stream_usage_drops_the_usage_chunk_only(oai: openai.OpenAI) -> None:
    headers = dial(omit_stream_usage=True)
    chunks = list(
        oai.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, extra_headers=headers
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop" and all(c.usage is None for c in chunks)
    assert oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers).usage is not None


def test_reject_stream_options_is_a_400_naming_it(oai: openai.OpenAI) -> None:
    headers = dial(reject_stream_options=True)
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, extra_headers=headers
        )
    assert "stream_options" in info.value.message
    assert list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True, extra_headers=headers))


def test_cl100k_tokenizer_dial_counts_with_that_encoding(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="gpt-4-turbo", messages=MESSAGES, extra_headers=dial(tokenizer="cl100k_base"))
    assert r.usage.completion_tokens == count_text(r.choices[0].message.content, "cl100k_base")
    assert r.usage.prompt_tokens == prompt_tokens(MESSAGES, "gpt-4-turbo", "cl100k_base")


def test_stop_sequence_cuts_the_answer(oai: openai.OpenAI) -> None:
    full = oai.chat.completions.create(model="stopper", messages=MESSAGES).choices[0].message.content or ""
    word = full.split()[3]
    r = oai.chat.completions.create(model="stopper", messages=MESSAGES, stop=[word])
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.content == full[: full.find(word)]


def test_bad_requests_are_400_in_openai_shape(sim_url: str) -> None:
    url = f"{sim_url}/v1/chat/completions"
    bad_json = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    no_model = httpx.post(url, json={"messages": MESSAGES})
    no_messages = httpx.post(url, json={"model": "m"})
    bad_dial = httpx.post(url, json={"model": "m", "messages": MESSAGES}, headers=dial(answer_tokens=-1))
    bad_tokenizer = httpx.post(url, json={"model": "m", "messages": MESSAGES}, headers=dial(tokenizer="nope"))
    for r in (bad_json, no_model, no_messages, bad_dial, bad_tokenizer):
        assert r.status_code == 400
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert no_model.json()["error"]["param"] == "model"


def test_models_list_and_short_path(sim_url: str, oai: openai.OpenAI) -> None:
    assert httpx.get(f"{sim_url}/v1/models").json()["object"] == "list"
    r = httpx.post(f"{sim_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert r.status_code == 200 and r.json()["object"] == "chat.completion"


def test_ignore_max_tokens_overruns_the_limit(oai: openai.OpenAI) -> None:
    headers = dial(ignore_max_tokens=True, answer_tokens=60)
    r = oai.chat.completions.create(model="m", messages=MESSAGES, max_tokens=5, extra_headers=headers)
    assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens > 30
