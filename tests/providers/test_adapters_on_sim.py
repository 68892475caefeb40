"""Both adapters against the embedded simulator over real loopback HTTP: answers, exact usage, every fault.

Expected usage is computed independently of the adapters, from the shared tokenizer (`workbench.tokens`, which
the simulator counts with): P prompt tokens of the request as sent, O tokens of the text that streamed back.
Dials travel per request in the `x-sim-behaviour` header.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from workbench.accounting.usage import Usage
from workbench.profiles.models import Provider
from workbench.providers.anthropic import AnthropicAdapter
from workbench.providers.base import Adapter, ChatRequest, Chunk, ProviderError, StreamEnd, TextDelta, UsageReport
from workbench.providers.openai_compat import OpenAICompatAdapter
from workbench.providers.registry import make_adapter, make_client, sim_base_url
from workbench.tokens import count_messages, count_text

FAKE_KEY = "FAKE-KEY-LEAKCHECK-not-real"
ENCODING = "o200k_base"  # the simulator's default tokenizer
SYSTEM = "You are a careful assistant who answers in plain words."
PROMPT = " ".join(f"Sentence {i} explains why pooled connections and timeouts matter." for i in range(30))
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False) as client:
        yield client


@pytest.fixture
async def short_read_http() -> AsyncIterator[httpx.AsyncClient]:
    """A client whose idle (read) budget is tiny, for hung and stalled servers."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.2), trust_env=False) as client:
        yield client


def make(wire: str, client: httpx.AsyncClient, sim_url: str, **kwargs: Any) -> Adapter:
    cls = OpenAICompatAdapter if wire == "openai" else AnthropicAdapter
    return cls(client, base_url=sim_base_url(sim_url, wire), api_key=FAKE_KEY, provider_name=f"sim-{wire}", **kwargs)


def request(wire: str, stream: bool = True, **dials: Any) -> ChatRequest:
    headers = {"x-sim-behaviour": json.dumps(dials)} if dials else {}
    return ChatRequest(
        model=MODELS[wire],
        system=SYSTEM,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=400,
        stream=stream,
        extra_headers=headers,
    )


async def run(adapter: Adapter, req: ChatRequest) -> tuple[str, Usage | None, StreamEnd, list[Chunk]]:
    chunks = [chunk async for chunk in adapter.stream(req)]
    deltas = [c for c in chunks if isinstance(c, TextDelta)]
    early = [c for c in chunks if isinstance(c, UsageReport) and not c.final]
    reports = [c for c in chunks if isinstance(c, UsageReport) and c.final]
    # the stream contract: an early prompt-side report (Anthropic) before any text, deltas, at most one final
    # usage report, exactly one end, in that order
    assert isinstance(chunks[-1], StreamEnd)
    assert chunks[: len(early)] == early and all(e.usage.output_tokens == 0 for e in early)
    rest = chunks[len(early) :]
    assert len(reports) <= 1 and rest[: len(deltas)] == deltas
    assert all(d.text for d in deltas)
    return "".join(d.text for d in deltas), reports[0].usage if reports else None, chunks[-1], chunks


def prompt_tokens(wire: str) -> int:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    return count_messages(messages, model=MODELS[wire], encoding=ENCODING)


# -- answers and exact usage --------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_openai_usage_with_cache_and_reasoning(http: httpx.AsyncClient, sim_url: str, stream: bool) -> None:
    adapter = make("openai", http, sim_url)
    text, usage, end, _ = await run(adapter, request("openai", stream, cached_tokens=64, reasoning_tokens=17))
    p, o = prompt_tokens("openai"), count_text(text, ENCODING)
    assert p > 64 and o > 0 and end.finish_reason == "stop"
    assert usage == Usage(
        input_tokens=p - 64,
        cache_read_tokens=64,
        output_tokens=o,
        reasoning_tokens=17,
        input_source="reported",
        output_source="reported",
    )


async def test_stream_and_non_stream_give_the_same_answer(http: httpx.AsyncClient, sim_url: str) -> None:
    for wire in ("openai", "anthropic"):
        adapter = make(wire, http, sim_url)
        streamed, u1, _, chunks = await run(adapter, request(wire, True))
        whole, u2, _, non_stream_chunks = await run(adapter, request(wire, False))
        assert streamed == whole and u1 == u2
        assert len(chunks) > 5 and len(non_stream_chunks) == 3  # many deltas vs one


async def test_gemini_openai_shape(http: httpx.AsyncClient, sim_url: str) -> None:
    adapter = make("openai", http, sim_url)
    text, usage, _, _ = await run(adapter, request("openai", usage_shape="gemini_openai", reasoning_tokens=120))
    assert usage is not None
    assert (usage.output_tokens, usage.reasoning_tokens) == (count_text(text, ENCODING), 120)
    assert usage.input_tokens == prompt_tokens("openai")


@pytest.mark.parametrize("stream", [True, False])
async def test_anthropic_usage_with_cache_reads_and_both_write_ttls(
    http: httpx.AsyncClient, sim_url: str, stream: bool
) -> None:
    adapter = make("anthropic", http, sim_url)
    dials = {"cached_tokens": 30, "cache_write_5m_tokens": 20, "cache_write_1h_tokens": 10}
    text, usage, end, _ = await run(adapter, request("anthropic", stream, **dials))
    p, o = prompt_tokens("anthropic"), count_text(text, ENCODING)
    assert end.finish_reason == "stop" and end.raw_reason == "end_turn"
    # message_start says output_tokens=1, message_delta the cumulative O: the result is O, never O + 1
    assert usage == Usage(
        input_tokens=p - 60,
        cache_read_tokens=30,
        cache_write_5m_tokens=20,
        cache_write_1h_tokens=10,
        output_tokens=o,
        reasoning_tokens=0,
        input_source="reported",
        output_source="reported",
    )
    assert usage.prompt_tokens == p


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [True, False])
async def test_usage_shape_none_yields_no_report(
    http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool
) -> None:
    text, usage, end, _ = await run(make(wire, http, sim_url), request(wire, stream, usage_shape="none"))
    assert text and usage is None and end.finish_reason


async def test_omitted_stream_usage_yields_no_report(http: httpx.AsyncClient, sim_url: str) -> None:
    _, usage, _, _ = await run(make("openai", http, sim_url), request("openai", omit_stream_usage=True))
    assert usage is None


async def test_max_tokens_cut_reports_length(http: httpx.AsyncClient, sim_url: str) -> None:
    req = dataclasses.replace(request("openai", answer_tokens=200), max_tokens=5)
    text, usage, end, _ = await run(make("openai", http, sim_url), req)
    assert end.finish_reason == "length" and usage is not None and usage.output_tokens <= 5


async def test_stream_options_refusal_falls_back_and_still_reports_usage(http: httpx.AsyncClient, sim_url: str) -> None:
    adapter = make("openai", http, sim_url)
    assert isinstance(adapter, OpenAICompatAdapter)
    req = request("openai", reject_stream_options=True)
    text, usage, end, _ = await run(adapter, req)
    assert adapter.stream_options_refused
    assert text and end.finish_reason == "stop"
    # Whatever usage such a server volunteers without stream_options is reported exactly (none: the engine
    # estimates). Ask the simulator directly what it sends in that case.
    body = {
        "model": MODELS["openai"],
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        "max_tokens": 400,
        "stream": True,
    }
    raw = await http.post(f"{sim_url}/v1/chat/completions", json=body, headers=req.extra_headers)
    frames = [json.loads(line[6:]) for line in raw.text.splitlines() if line.startswith("data: {")]
    volunteered = [f["usage"] for f in frames if f.get("usage")]
    if volunteered:
        assert usage is not None and usage.output_tokens == count_text(text, ENCODING)
    else:
        assert usage is None
    # the refusal is remembered: the next call goes straight through without stream_options
    text2, _, _, _ = await run(adapter, req)
    assert text2 == text


async def test_stream_options_refusal_in_always_mode_surfaces(http: httpx.AsyncClient, sim_url: str) -> None:
    adapter = make("openai", http, sim_url, stream_usage="always")
    with pytest.raises(ProviderError) as info:
        await run(adapter, request("openai", reject_stream_options=True))
    assert (info.value.kind, info.value.retryable, info.value.status) == ("bad_request", False, 400)


# -- faults ------------------------------------------------------------------------------------------------

FAULTS = [
    # fault dials, expected kind, retryable, status
    ({"kind": "http_429", "retry_after_s": 0.25}, "rate_limit", True, 429),
    ({"kind": "http_500"}, "server", True, 500),
    ({"kind": "http_503"}, "server", True, 503),
    ({"kind": "http_529"}, "overloaded", True, 529),
    ({"kind": "drop", "after_tokens": 3}, "connection", True, None),
    ({"kind": "malformed", "after_tokens": 3}, "malformed", True, None),
]


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("fault", "kind", "retryable", "status"), FAULTS, ids=[f[0]["kind"] for f in FAULTS])
async def test_fault_kinds(
    http: httpx.AsyncClient,
    sim_url: str,
    wire: str,
    stream: bool,
    fault: dict[str, Any],
    kind: str,
    retryable: bool,
    status: int | None,
) -> None:
    adapter = make(wire, http, sim_url)
    with pytest.raises(ProviderError) as info:
        await run(adapter, request(wire, stream, faults=[fault]))
    err = info.value
    assert (err.kind, err.retryable, err.status) == (kind, retryable, status)
    assert (err.provider, err.model) == (f"sim-{wire}", MODELS[wire])
    if fault["kind"] == "http_429":
        assert err.retry_after_s == 0.25  # from retry-after-ms, finer than Retry-After's whole seconds
    assert FAKE_KEY not in f"{err} {err.message} {err.body} {err!r}"


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [True, False])
async def test_http_200_error(http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool) -> None:
    with pytest.raises(ProviderError) as info:
        await run(make(wire, http, sim_url), request(wire, stream, faults=[{"kind": "http_200_error"}]))
    expected = "server" if wire == "openai" else "overloaded"
    assert (info.value.kind, info.value.retryable, info.value.status) == (expected, True, 200)


async def test_drop_mid_stream_after_some_text(http: httpx.AsyncClient, sim_url: str) -> None:
    seen: list[Chunk] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in make("openai", http, sim_url).stream(
            request("openai", faults=[{"kind": "drop", "after_tokens": 4}])
        ):
            seen.append(chunk)
    assert seen and all(isinstance(c, TextDelta) for c in seen)
    assert info.value.kind == "connection"


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [True, False])
async def test_hang_times_out(short_read_http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool) -> None:
    with pytest.raises(ProviderError) as info:
        await run(make(wire, short_read_http, sim_url), request(wire, stream, faults=[{"kind": "hang"}]))
    assert (info.value.kind, info.value.retryable) == ("timeout", True)
    assert "no response headers within 0.2 s" in info.value.message


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [True, False])
async def test_stall_times_out(short_read_http: httpx.AsyncClient, sim_url: str, wire: str, stream: bool) -> None:
    seen: list[Chunk] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in make(wire, short_read_http, sim_url).stream(
            request(wire, stream, faults=[{"kind": "stall", "after_tokens": 3}])
        ):
            seen.append(chunk)
    assert (info.value.kind, info.value.retryable) == ("timeout", True)
    assert "stalled" in info.value.message
    if stream:
        texts = [c for c in seen if isinstance(c, TextDelta)]
        assert texts and all(isinstance(c, (TextDelta, UsageReport)) for c in seen)  # text came, then silence


# -- wiring from a profile entry --------------------------------------------------------------------------


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_profile_sim_provider_end_to_end(sim_url: str, wire: str) -> None:
    provider = Provider(kind="sim", wire=wire, api_key_env="UNSET_SIM_KEY")  # type: ignore[arg-type]
    async with make_client(provider) as client:
        adapter = make_adapter("local", provider, client, base_url=sim_base_url(sim_url, wire), environ={})
        text, usage, end, _ = await run(adapter, request(wire))
    assert text and usage is not None and usage.output_tokens == count_text(text, ENCODING)
