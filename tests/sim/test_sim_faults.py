"""Each fault the simulator can dial reaches a client the way the real failure would."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import openai
import pytest
from sim_helpers import dial  # type: ignore[import-not-found]  # this folder is on sys.path (rootdir mode)

from workbench.sim.behaviour import SimBehaviour
from workbench.sim.server import SimServer

MESSAGES = [{"role": "user", "content": "Summarise the history of lighthouse keepers."}]
OAI_BODY = {"model": "m", "messages": MESSAGES}
ANT_BODY = {"model": "m", "max_tokens": 200, "messages": MESSAGES}


def fault(kind: str, **extra: object) -> dict[str, str]:
    return dial(faults=[{"kind": kind, **extra}])


def test_429_carries_retry_after_headers_on_both_wires(oai: openai.OpenAI, anth: anthropic.Anthropic) -> None:
    headers = fault("http_429", retry_after_s=1.2)
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(**OAI_BODY, extra_headers=headers)
    assert info.value.response.headers["retry-after"] == "2"  # whole seconds, rounded up
    assert info.value.response.headers["retry-after-ms"] == "1200"
    assert info.value.body["code"] == "rate_limit_exceeded" and "try again in 1.2s" in info.value.message
    with pytest.raises(anthropic.RateLimitError) as ainfo:
        anth.messages.create(**ANT_BODY, extra_headers=headers)
    assert ainfo.value.response.headers["retry-after"] == "2"
    assert ainfo.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": ainfo.value.body["error"]["message"]},
    }


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_503", 503), ("http_529", 529)])
def test_server_errors_are_internal_server_errors(
    oai: openai.OpenAI, anth: anthropic.Anthropic, kind: str, status: int
) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(**OAI_BODY, stream=True, extra_headers=fault(kind))
    assert info.value.status_code == status
    with pytest.raises(anthropic.InternalServerError) as ainfo:
        anth.messages.create(**ANT_BODY, extra_headers=fault(kind))
    assert ainfo.value.status_code == status
    if status == 529:
        assert ainfo.value.body["error"]["type"] == "overloaded_error"


def test_hang_makes_a_short_timeout_client_time_out(sim_url: str) -> None:
    client = openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(**OAI_BODY, extra_headers=fault("hang"))
    assert time.monotonic() - started < 2


def test_stall_sends_some_tokens_then_goes_silent(sim_url: str) -> None:
    body = {**OAI_BODY, "stream": True}
    seen: list[str] = []
    with pytest.raises(httpx.ReadTimeout):
        with httpx.stream(
            "POST", f"{sim_url}/v1/chat/completions", json=body, headers=fault("stall", after_tokens=4), timeout=0.3
        ) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    seen.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
    assert len([s for s in seen if s]) == 4


def test_drop_cuts_the_stream_after_some_tokens(sim_url: str, oai: openai.OpenAI) -> None:
    body = {**OAI_BODY, "stream": True}
    lines: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream(
            "POST", f"{sim_url}/v1/chat/completions", json=body, headers=fault("drop", after_tokens=3)
        ) as r:
            lines.extend(r.iter_lines())
    contents = [json.loads(x[6:])["choices"][0]["delta"].get("content") for x in lines if x.startswith("data: {")]
    assert len(contents) == 4 and contents[0] == ""  # the role chunk, then three tokens
    assert "data: [DONE]" not in lines
    with pytest.raises((openai.APIError, httpx.HTTPError)):
        list(oai.chat.completions.create(**OAI_BODY, stream=True, extra_headers=fault("drop")))


def test_drop_on_the_anthropic_stream_has_no_message_stop(sim_url: str) -> None:
    lines: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream(
            "POST", f"{sim_url}/v1/messages", json={**ANT_BODY, "stream": True}, headers=fault("drop", after_tokens=2)
        ) as r:
            lines.extend(r.iter_lines())
    assert lines.count("event: content_block_delta") == 2 and "event: message_stop" not in lines


def test_malformed_body_and_event_do_not_parse(sim_url: str, oai: openai.OpenAI, anth: anthropic.Anthropic) -> None:
    r = httpx.post(f"{sim_url}/v1/chat/completions", json=OAI_BODY, headers=fault("malformed"))
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    with pytest.raises(ValueError):
        list(oai.chat.completions.create(**OAI_BODY, stream=True, extra_headers=fault("malformed", after_tokens=2)))
    with pytest.raises(ValueError):
        with anth.messages.stream(**ANT_BODY, extra_headers=fault("malformed")) as stream:
            list(stream.text_stream)
    # One bad event, then the stream carries on to its end: a tolerant reader can still finish.
    body = {**OAI_BODY, "stream": True}
    with httpx.stream("POST", f"{sim_url}/v1/chat/completions", json=body, headers=fault("malformed")) as resp:
        lines = [x for x in resp.iter_lines() if x.startswith("data: ")]
    bad = [x for x in lines if x != "data: [DONE]" and not _parses(x[6:])]
    assert len(bad) == 1 and lines[-1] == "data: [DONE]"


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_http_200_error_in_body_and_in_stream(sim_url: str, oai: openai.OpenAI, anth: anthropic.Anthropic) -> None:
    r = httpx.post(f"{sim_url}/v1/chat/completions", json=OAI_BODY, headers=fault("http_200_error"))
    assert r.status_code == 200 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = httpx.post(f"{sim_url}/v1/messages", json=ANT_BODY, headers=fault("http_200_error"))
    assert r.status_code == 200 and r.json()["type"] == "error"
    with pytest.raises(openai.APIError) as info:
        list(oai.chat.completions.create(**OAI_BODY, stream=True, extra_headers=fault("http_200_error")))
    assert "mid-stream" in info.value.message
    with pytest.raises(anthropic.APIStatusError) as ainfo:
        with anth.messages.stream(**ANT_BODY, extra_headers=fault("http_200_error", after_tokens=1)) as stream:
            list(stream.text_stream)
    assert ainfo.value.body["error"]["type"] == "overloaded_error"


def _statuses(server: SimServer, model: str, n: int) -> list[int]:
    headers = fault("http_500", rate=0.5)
    with httpx.Client(base_url=server.base_url) as http:
        return [
            http.post("/v1/chat/completions", json={**OAI_BODY, "model": model}, headers=headers).status_code
            for _ in range(n)
        ]


def test_fault_draws_repeat_for_the_same_seed_and_differ_for_another() -> None:
    fast = SimBehaviour(ttft_ms=0, tokens_per_s=1e6, answer_tokens=5)
    with (
        SimServer(default=fast, seed=11) as a,
        SimServer(default=fast, seed=11) as b,
        SimServer(default=fast, seed=12) as c,
    ):
        first, second, other = (_statuses(s, "flaky", 24) for s in (a, b, c))
        assert first == second
        assert first != other
        assert 0 < first.count(500) < 24  # a rate of 0.5 does both
        assert a.request_count("flaky") == 24


def test_fault_rate_zero_never_fires(oai: openai.OpenAI) -> None:
    for _ in range(5):
        oai.chat.completions.create(**OAI_BODY, extra_headers=fault("http_500", rate=0.0))
