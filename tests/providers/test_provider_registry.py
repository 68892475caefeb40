"""Profile provider entry -> pooled client and adapter: keys and headers from the environment, base URLs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from workbench.errors import EngineError
from workbench.profiles.models import Provider, Timeouts
from workbench.providers.anthropic import AnthropicAdapter
from workbench.providers.openai_compat import OpenAICompatAdapter
from workbench.providers.registry import make_adapter, make_client, sim_base_url


def provider(**kwargs: Any) -> Provider:
    return Provider.model_validate(kwargs)


async def test_client_timeouts_from_the_profile() -> None:
    p = provider(
        kind="openai", timeouts=Timeouts(connect=1.5, first_token=5.0, idle=7.0, total=90.0), max_connections=8
    )
    async with make_client(p) as client:
        # httpx's read timeout is only a backstop behind the engine's own first-token and idle timeouts, which
        # a lagging event loop extends up to the attempt's hard stop (twice the total): never shorter than that
        assert client.timeout == httpx.Timeout(connect=1.5, read=180.0, write=7.0, pool=90.0)
    # a role-only frame followed by a long think must be judged by the engine's first-token timeout, not cut by
    # httpx's read timeout
    slow_start = provider(kind="openai", timeouts=Timeouts(first_token=600.0, idle=7.0, total=120.0))
    async with make_client(slow_start) as client:
        assert client.timeout.read == 1200.0


async def test_openai_kind_defaults_and_key_from_env() -> None:
    async with httpx.AsyncClient() as client:
        a = make_adapter("oa", provider(kind="openai", api_key_env="OA_KEY"), client, environ={"OA_KEY": "fake-1"})
    assert isinstance(a, OpenAICompatAdapter)
    assert (a.base_url, a.api_key, a.provider_name) == ("https://api.openai.com/v1", "fake-1", "oa")
    assert a.stream_usage == "auto"


async def test_anthropic_kind_default_url() -> None:
    async with httpx.AsyncClient() as client:
        a = make_adapter("an", provider(kind="anthropic", api_key_env="AN_KEY"), client, environ={"AN_KEY": "k"})
    assert isinstance(a, AnthropicAdapter) and a.base_url == "https://api.anthropic.com"


async def test_openai_compatible_server_by_base_url_and_headers() -> None:
    p = provider(
        kind="openai",
        base_url="https://generativelanguage.googleapis.com/v1beta/openai",
        api_key_env="GEMINI_API_KEY",
        headers={"x-goog-user-project": "${PROJECT}", "X-Title": "workbench ${APP}-x"},
        stream_usage="never",
    )
    env = {"GEMINI_API_KEY": "g-key", "PROJECT": "proj-1", "APP": "wb"}
    async with httpx.AsyncClient() as client:
        a = make_adapter("gemini", p, client, environ=env)
    assert isinstance(a, OpenAICompatAdapter)
    assert a.base_url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert a.headers == {"x-goog-user-project": "proj-1", "X-Title": "workbench wb-x"}
    assert a.stream_usage == "never"


@pytest.mark.parametrize(
    ("p", "env", "variable"),
    [
        (dict(kind="openai", api_key_env="MISSING_KEY"), {}, "MISSING_KEY"),
        (dict(kind="openai", api_key_env="EMPTY_KEY"), {"EMPTY_KEY": ""}, "EMPTY_KEY"),
        (dict(kind="anthropic", headers={"x-api-key": "${HDR_KEY}"}), {}, "HDR_KEY"),
    ],
)
async def test_missing_variable_names_provider_and_variable(
    p: dict[str, Any], env: dict[str, str], variable: str
) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(EngineError) as info:
            make_adapter("prod-llm", provider(**p), client, environ=env)
    assert "prod-llm" in info.value.message and variable in info.value.message


async def test_sim_needs_no_key_and_takes_the_engine_url() -> None:
    p = provider(kind="sim", wire="anthropic", api_key_env="NOT_SET", headers={"x-api-key": "${NOT_SET_EITHER}"})
    async with httpx.AsyncClient() as client:
        a = make_adapter("sim", p, client, base_url=sim_base_url("http://127.0.0.1:9/", "anthropic"), environ={})
        assert isinstance(a, AnthropicAdapter)
        assert (a.base_url, a.api_key, a.headers) == ("http://127.0.0.1:9", None, {})
        b = make_adapter("sim", provider(kind="sim"), client, base_url=sim_base_url("http://127.0.0.1:9", "openai"))
        assert isinstance(b, OpenAICompatAdapter) and b.base_url == "http://127.0.0.1:9/v1"
        with pytest.raises(EngineError) as info:
            make_adapter("sim", provider(kind="sim"), client)
        assert "simulator" in info.value.message


async def test_sim_client_ignores_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    async with make_client(provider(kind="sim")) as client:
        assert client.trust_env is False
    async with make_client(provider(kind="openai")) as client:
        assert client.trust_env is True
