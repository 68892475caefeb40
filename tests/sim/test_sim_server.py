"""The simulator as a server: determinism, registry, runtime dials, pacing, big prompts, clean stop, the CLI."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from sim_helpers import dial  # type: ignore[import-not-found]  # this folder is on sys.path (rootdir mode)

from workbench.errors import SimError
from workbench.sim.behaviour import SimBehaviour
from workbench.sim.server import SimServer
from workbench.tokens import count_messages

FAST = SimBehaviour(ttft_ms=0, tokens_per_s=1e6, answer_tokens=40)
MESSAGES = [{"role": "user", "content": "What makes a good hiking boot for wet alpine trails?"}]


def answer(server: SimServer, messages: list[dict] = MESSAGES, model: str = "m") -> str:
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0)
    return client.chat.completions.create(model=model, messages=messages).choices[0].message.content or ""


def test_same_seed_same_answers_other_seed_other_answers() -> None:
    with (
        SimServer(default=FAST, seed=5) as a,
        SimServer(default=FAST, seed=5) as b,
        SimServer(default=FAST, seed=6) as c,
    ):
        assert answer(a) == answer(b)
        assert answer(a) != answer(c)
        other_prompt = [{"role": "user", "content": "How do bees choose a new nest site?"}]
        assert answer(a, other_prompt) != answer(a)
        assert answer(a, model="n") != answer(a)
        # x-sim-seed picks the seed per request.
        client = openai.OpenAI(base_url=f"{c.base_url}/v1", api_key="x", max_retries=0)
        r = client.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-sim-seed": "5"})
        assert r.choices[0].message.content == answer(a)


def test_registry_answers_404_for_unknown_models_and_takes_runtime_dials() -> None:
    with SimServer({"known": FAST}) as server:
        client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(model="unknown", messages=MESSAGES)
        assert info.value.body["code"] == "model_not_found"
        ant = anthropic.Anthropic(base_url=server.base_url, api_key="x", max_retries=0)
        with pytest.raises(anthropic.NotFoundError):
            ant.messages.create(model="unknown", max_tokens=10, messages=MESSAGES)
        assert [m["id"] for m in httpx.get(f"{server.base_url}/v1/models").json()["data"]] == ["known"]

        server.set_behaviour("unknown", FAST.model_copy(update={"answer_tokens": 5}))
        r = client.chat.completions.create(model="unknown", messages=MESSAGES)
        assert r.usage.completion_tokens <= 12
        assert server.request_count("unknown") == 1 and server.request_count("known") == 0


def test_ttft_and_throughput_pacing_and_the_role_chunk_comes_first(sim_url: str) -> None:
    client = openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0)
    started = time.monotonic()
    stamps: list[tuple[float, str | None]] = []
    stream = client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, extra_headers=dial(ttft_ms=150, tokens_per_s=400, answer_tokens=40)
    )
    for chunk in stream:
        if chunk.choices:
            stamps.append((time.monotonic() - started, chunk.choices[0].delta.content))
    role_at = stamps[0][0]
    first_token_at = next(t for t, text in stamps if text)
    last_token_at = [t for t, text in stamps if text][-1]
    assert role_at < 0.1 and 0.14 <= first_token_at < 1.0
    assert 0.07 <= last_token_at - first_token_at < 1.5  # ~40 tokens at 400/s


def test_huge_throughput_costs_no_sleeps(sim_url: str) -> None:
    with httpx.Client(base_url=sim_url) as http:
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        headers = dial(ttft_ms=0, tokens_per_s=1e9, answer_tokens=2000)
        http.post("/v1/chat/completions", json=body, headers=headers)  # warm the answer cache
        started = time.monotonic()
        r = http.post("/v1/chat/completions", json=body, headers=headers)
        elapsed = time.monotonic() - started
    assert r.text.count("data: ") > 1500 and elapsed < 0.5


def test_one_megabyte_prompt_is_accepted_and_counted(sim_url: str) -> None:
    words = " ".join(f"token{i % 997} harbour" for i in range(80_000))
    messages = [{"role": "user", "content": words[:1_100_000]}]
    assert len(messages[0]["content"]) > 1_000_000
    client = openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0, timeout=30)
    r = client.chat.completions.create(model="big", messages=messages)
    assert r.usage.prompt_tokens == count_messages(messages, model="big", encoding="o200k_base")
    assert "harbour" in (r.choices[0].message.content or "")


def test_stop_does_not_hang_with_hung_and_stalled_requests_open() -> None:
    server = SimServer(default=FAST).start()
    errors: list[BaseException] = []

    def call(headers: dict[str, str], stream: bool) -> None:
        try:
            body = {"model": "m", "messages": MESSAGES, "stream": stream}
            with httpx.stream(
                "POST", f"{server.base_url}/v1/chat/completions", json=body, headers=headers, timeout=20
            ) as r:
                r.read()
        except BaseException as exc:  # noqa: BLE001 - the cut is what we expect
            errors.append(exc)

    threads = [
        threading.Thread(target=call, args=(dial(faults=[{"kind": "hang"}]), False)),
        threading.Thread(target=call, args=(dial(faults=[{"kind": "stall"}]), True)),
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while server.request_count("m") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.5
    for t in threads:
        t.join(timeout=5)
        assert not t.is_alive()
    assert len(errors) == 2 and all(isinstance(e, httpx.HTTPError) for e in errors)
    server.stop()  # idempotent


def test_start_is_idempotent_and_a_taken_port_is_a_clear_error() -> None:
    with SimServer(default=FAST) as server:
        assert server.start() is server
        with pytest.raises(SimError, match="could not listen"):
            SimServer(default=FAST, port=server.port).start()


def _serve(args: list[str]) -> tuple[subprocess.Popen[str], str, str]:
    """Start `workbench sim serve` on a free port; return it, its URL and the banner it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "sim", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = ""
    while "Ctrl-C" not in banner:
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            raise AssertionError(f"the CLI exited early: {banner}{proc.communicate()[1]}")
        banner += line
    match = re.search(r"http://127\.0\.0\.1:\d+", banner)
    assert match, banner
    return proc, match.group(0), banner


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    return out


def test_cli_serve_answers_the_openai_sdk() -> None:
    proc, url, first = _serve(["--seed", "3"])
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=10)
        r = client.chat.completions.create(model="anything", messages=MESSAGES)
        assert r.choices[0].finish_reason == "stop" and "boot" in (r.choices[0].message.content or "")
    finally:
        out = _stop(proc)
    assert "seed 3" in first and f'base_url="{url}/v1"' in first and "stopped" in out


def test_cli_serve_with_a_profile_serves_its_sim_models(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "version: 1\n"
        "sim: {seed: 9}\n"
        "providers:\n  local: {kind: sim}\n"
        "models:\n"
        "  tiny:\n    provider: local\n    model: sim-tiny\n"
        "    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 8}\n"
        "routes:\n  main:\n    steps:\n      - {name: answer, targets: [tiny]}\n"
    )
    proc, url, first = _serve(["--profile", str(profile)])
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=10)
        assert client.chat.completions.create(model="sim-tiny", messages=MESSAGES).usage.completion_tokens <= 16
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        _stop(proc)
    assert "seed 9" in first and "models: sim-tiny" in first
