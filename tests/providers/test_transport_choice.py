"""Which transport `make_client` puts under httpx: aiohttp by default, httpcore with WORKBENCH_TRANSPORT=httpx or
when a proxy from the environment applies to a real provider; an unknown value is a clear error. And the engine,
end to end over the simulator, streams through the aiohttp transport and reuses its connection."""

from __future__ import annotations

import http.cookiejar
from typing import Any

import httpx
import pytest

from workbench.engine import Engine
from workbench.errors import EngineError
from workbench.profiles.load import loads_profile
from workbench.profiles.models import Provider
from workbench.providers.aiohttp_transport import AiohttpTransport
from workbench.providers.registry import make_client, transport_choice, transport_seam


def provider(**kwargs: Any) -> Provider:
    return Provider.model_validate(kwargs)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "kind", "expected"),
    [
        ({}, "sim", "aiohttp"),
        ({}, "openai", "aiohttp"),
        ({"WORKBENCH_TRANSPORT": "httpx"}, "sim", "httpx"),
        ({"WORKBENCH_TRANSPORT": " HTTPX "}, "anthropic", "httpx"),
        ({"WORKBENCH_TRANSPORT": "aiohttp"}, "openai", "aiohttp"),
        ({"WORKBENCH_TRANSPORT": ""}, "openai", "aiohttp"),
    ],
)
async def test_the_transport_follows_the_environment(env: dict[str, str], kind: str, expected: str) -> None:
    p = provider(kind=kind, max_connections=7)
    assert transport_choice(p, env) == expected
    async with make_client(p, environ=env) as client:
        transport = transport_seam(client).inner
        if expected == "aiohttp":
            assert isinstance(transport, AiohttpTransport) and transport.max_connections == 7
        else:
            assert isinstance(transport, httpx.AsyncHTTPTransport)


def test_an_unknown_transport_names_the_variable_and_the_choices() -> None:
    with pytest.raises(EngineError) as info:
        transport_choice(provider(kind="sim"), {"WORKBENCH_TRANSPORT": "curl"})
    assert "WORKBENCH_TRANSPORT" in info.value.message and "'curl'" in info.value.message
    assert info.value.hint is not None and "aiohttp" in info.value.hint and "httpx" in info.value.hint


def test_a_proxy_in_the_environment_keeps_real_providers_on_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert transport_choice(provider(kind="openai"), {}) == "httpx"  # httpx honours the proxy, as it always has
    assert transport_choice(provider(kind="sim"), {}) == "aiohttp"  # the simulator never goes through a proxy


PROFILE = """
name: transport-engine
providers:
  oai: {kind: sim, wire: openai, max_connections: 4}
  ant: {kind: sim, wire: anthropic}
models:
  o:
    provider: oai
    model: sim-o
    tokenizer: o200k_base
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 12}
  a:
    provider: ant
    model: sim-a
    tokenizer: o200k_base
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 12}
routes:
  o: {steps: [{name: answer, targets: [o]}]}
  a: {steps: [{name: answer, targets: [a]}]}
"""


async def test_the_engine_streams_through_aiohttp_and_reuses_one_connection_per_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WORKBENCH_TRANSPORT", raising=False)
    async with Engine(loads_profile(PROFILE)) as engine:
        for route in ("o", "a", "o", "a", "o"):
            finals = [e async for e in engine.run("hello", route=route) if e.type == "run_finished"]
            assert finals[0].status == "ok" and finals[0].output
        for name in ("oai", "ant"):
            transport = transport_seam(engine._clients[name]).inner
            assert isinstance(transport, AiohttpTransport)
            connector = transport._session.connector  # type: ignore[union-attr]
            # sequential runs: every body read to its end, so one connection per provider, idle in the pool
            (idle,) = connector._conns.values()
            assert len(idle) == 1


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_cookies_a_server_sets_are_sent_back_and_only_such_answers_pay_for_it(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp import web

    seen: list[str | None] = []
    parsed: list[str | None] = []  # the answers whose cookies the stdlib jar looked at
    jar_extract = http.cookiejar.CookieJar.extract_cookies

    def spy(self: http.cookiejar.CookieJar, response: Any, request: Any) -> None:
        parsed.append(response.info().get("set-cookie"))
        jar_extract(self, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", spy)

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("cookie"))
        response = web.Response(text="ok")
        if len(seen) in (1, 4):
            response.headers["set-cookie"] = f"__cf_bm=abc{len(seen)}; Path=/"
        return response

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with make_client(provider(kind="sim"), environ={"WORKBENCH_TRANSPORT": transport}) as client:
            for _ in range(5):
                assert (await client.get(f"http://127.0.0.1:{port}/")).text == "ok"
            assert client.cookies["__cf_bm"] == "abc4"
    finally:
        await runner.cleanup()
    assert seen == [None, "__cf_bm=abc1", "__cf_bm=abc1", "__cf_bm=abc1", "__cf_bm=abc4"]
    assert parsed == ["__cf_bm=abc1; Path=/", "__cf_bm=abc4; Path=/"]


async def test_cookies_given_or_set_on_the_client_are_sent() -> None:
    async with make_client(provider(kind="sim")) as client:
        client.cookies = {"a": "1"}
        assert client.build_request("GET", "http://127.0.0.1:1/").headers["cookie"] == "a=1"
        client.cookies.set("b", "2")
        assert client.build_request("GET", "http://127.0.0.1:1/").headers["cookie"] in ("a=1; b=2", "b=2; a=1")


async def test_the_clients_parsed_urls_are_right_and_bounded() -> None:
    async with make_client(provider(kind="sim")) as client:
        for i in range(100):
            request = client.build_request("POST", f"http://127.0.0.1:{1000 + i}/v1/chat/completions?n={i}")
            assert (request.url.port, request.url.params["n"], request.headers["host"]) == (
                1000 + i,
                str(i),
                f"127.0.0.1:{1000 + i}",
            )
        again = client.build_request("GET", "http://127.0.0.1:1099/v1/chat/completions?n=99")
        assert again.url == request.url and again.method == "GET"
        assert len(client._wb_urls) <= 64  # type: ignore[attr-defined]
    # a relative URL still goes through the client's base URL, which may change between calls
    async with make_client(provider(kind="sim")) as client:
        client.base_url = httpx.URL("http://127.0.0.1:1001/v1")
        assert str(client.build_request("POST", "chat/completions").url) == "http://127.0.0.1:1001/v1/chat/completions"
        client.base_url = httpx.URL("http://127.0.0.1:1002/v2/")
        assert str(client.build_request("POST", "chat/completions").url) == "http://127.0.0.1:1002/v2/chat/completions"


async def test_fault_injection_goes_behind_the_clients_transport_seam() -> None:
    from workbench.providers import faults

    async with make_client(provider(kind="sim")) as client:
        inner = transport_seam(client).inner
        wrapped = faults.install(client)
        assert transport_seam(client).inner is wrapped and wrapped.inner is inner
        assert faults.install(client) is wrapped  # once only
    async with httpx.AsyncClient() as plain:
        with pytest.raises(TypeError, match="make_client"):
            faults.install(plain)
