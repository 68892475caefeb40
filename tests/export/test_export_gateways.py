"""LiteLLM and Portkey exports: they parse, validate against the shape their systems read, carry the fallback
chain in order and hold no key; a LiteLLM Router built from the export falls back on the simulator as the route
says."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML

from workbench.export import export_route
from workbench.profiles.load import load_profile, loads_profile

DEMO = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm must not fetch its price map

REAL = """\
name: real
providers:
  oai: {kind: openai, base_url: "https://api.openai.com/v1", api_key_env: OPENAI_API_KEY}
  ant: {kind: anthropic, base_url: "https://api.anthropic.com", api_key_env: ANTHROPIC_API_KEY}
models:
  mini: {provider: oai, model: gpt-4o-mini, prices: [{input: 0.15, output: 0.6}]}
  sonnet: {provider: ant, model: claude-sonnet-4-5, prices: [{input: 3, output: 15}]}
  big: {provider: oai, model: gpt-4.1, prices: [{input: 2, output: 8}]}
policies:
  retry: {max_attempts: 3, on: [rate_limit, server]}
  breaker: {failures: 4, open_s: 20}
routes:
  chat:
    timeouts: {total: 45, first_token: 8}
    steps:
      - {name: answer, targets: [mini, sonnet, big], temperature: 0.2}
      - {name: check, kind: gate, checks: [{type: contains, text: "ok"}]}
  tiers:
    steps:
      - name: pick
        kind: route
        rules:
          - {when: {metadata: {plan: gold}}, branch: premium}
        default: basic
        branches:
          premium: [{name: p, targets: [sonnet, big]}]
          basic: [{name: b, targets: [mini]}]
  spread:
    balance: {strategy: weighted}
    steps: [{name: s, targets: [{model: mini, weight: 3}, {model: big, weight: 1}]}]
"""


def _yaml(text: str) -> Any:
    return YAML(typ="safe").load(text)


def test_litellm_export_validates_against_litellm_config_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "FAKE-OPENAI-KEY-should-never-appear")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "FAKE-ANTHROPIC-KEY-should-never-appear")
    from litellm.proxy._types import ConfigYAML
    from litellm.types.router import RetryPolicy, UpdateRouterConfig

    result = export_route(loads_profile(REAL), "chat", "litellm")
    assert "FAKEKEY" not in result.text
    doc = _yaml(result.text)
    ConfigYAML(**doc)  # raises on a shape the proxy does not read
    UpdateRouterConfig(**doc["router_settings"])
    RetryPolicy(**doc["router_settings"]["retry_policy"])
    names = [m["model_name"] for m in doc["model_list"]]
    assert names == ["mini", "sonnet", "big"]
    params = {m["model_name"]: m["litellm_params"] for m in doc["model_list"]}
    assert params["mini"]["model"] == "openai/gpt-4o-mini"
    assert params["sonnet"]["model"] == "anthropic/claude-sonnet-4-5"
    assert params["sonnet"]["api_key"] == "os.environ/ANTHROPIC_API_KEY"
    assert params["mini"]["timeout"] == 45 and params["mini"]["stream_timeout"] == 8
    assert params["mini"]["temperature"] == 0.2
    rs = doc["router_settings"]
    assert rs["fallbacks"] == [{"mini": ["sonnet", "big"]}, {"chat": ["sonnet", "big"]}]  # the chain in order
    assert (rs["num_retries"], rs["allowed_fails"], rs["cooldown_time"], rs["timeout"]) == (2, 4, 20, 45)
    assert rs["retry_policy"]["RateLimitErrorRetries"] == 2 and rs["retry_policy"]["TimeoutErrorRetries"] == 0
    # the gate is not dropped silently: a warning and a comment in the file
    assert any("gate checks (contains)" in w for w in result.warnings)
    assert "# - route 'chat' step 'check': gate checks (contains) are not exported" in result.text


async def test_litellm_router_built_from_export_falls_back_on_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    import litellm

    from workbench.cli.sim_cmd import behaviours_from_profile
    from workbench.sim.server import SimServer

    loaded = load_profile(DEMO)
    served = {
        k: v.model_copy(update={"ttft_ms": 0, "tokens_per_s": 1e6})
        for k, v in behaviours_from_profile(loaded.profile).items()
    }
    server = SimServer(served, seed=loaded.profile.sim.seed)
    server.start()
    try:
        monkeypatch.setenv("WORKBENCH_SIM_URL", f"{server.base_url}/v1")
        monkeypatch.setenv("WORKBENCH_SIM_KEY", "any")
        doc = _yaml(export_route(loaded, "fallback", "litellm").text)
        rs = doc["router_settings"]
        router = litellm.Router(model_list=doc["model_list"], **rs)
        reply = await router.acompletion(
            model="fallback", messages=[{"role": "user", "content": "Why is the sky blue?"}]
        )
        assert reply.model.endswith("sim-steady")  # outage answered 503, the router fell back as the route says
        assert reply.choices[0].message.content
    finally:
        server.stop()


class _PkRetry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(ge=0, le=5)
    on_status_codes: list[int] | None = None


class _PkStrategy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["fallback", "loadbalance", "conditional", "single"]
    on_status_codes: list[int] | None = None
    conditions: list[dict[str, Any]] | None = None
    default: str | None = None


class _PkTarget(BaseModel):
    """Portkey's documented target fields (https://portkey.ai/docs/api-reference/inference-api/config-object)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    provider: str | None = None
    virtual_key: str | None = None
    api_key: str | None = None
    custom_host: str | None = None
    weight: float | None = None
    override_params: dict[str, Any] | None = None
    retry: _PkRetry | None = None
    request_timeout: int | None = None
    strategy: _PkStrategy | None = None
    targets: list[_PkTarget] | None = None


class _PkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: _PkStrategy
    targets: list[_PkTarget]
    retry: _PkRetry | None = None
    request_timeout: int | None = None


def test_portkey_export_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "FAKE-OPENAI-KEY-should-never-appear")
    loaded = loads_profile(REAL)
    chat = export_route(loaded, "chat", "portkey")
    assert "FAKEKEY" not in chat.text
    cfg = _PkConfig(**json.loads(chat.text))
    assert cfg.strategy.mode == "fallback"
    assert [t.override_params["model"] for t in cfg.targets] == ["gpt-4o-mini", "claude-sonnet-4-5", "gpt-4.1"]
    assert [t.provider for t in cfg.targets] == ["openai", "anthropic", "openai"]
    assert cfg.targets[0].api_key == "${OPENAI_API_KEY}"
    assert cfg.targets[0].retry == _PkRetry(attempts=2, on_status_codes=[429, 500, 502, 504])
    assert cfg.targets[0].request_timeout == 45_000
    assert any("gate checks" in w for w in chat.warnings)

    tiers = _PkConfig(**json.loads(export_route(loaded, "tiers", "portkey").text))
    assert tiers.strategy.mode == "conditional" and tiers.strategy.default == "basic"
    assert tiers.strategy.conditions == [{"query": {"metadata.plan": {"$eq": "gold"}}, "then": "premium"}]
    premium = next(t for t in tiers.targets if t.name == "premium")
    assert [t.override_params["model"] for t in premium.targets or []] == ["claude-sonnet-4-5", "gpt-4.1"]

    spread = _PkConfig(**json.loads(export_route(loaded, "spread", "portkey").text))
    assert spread.strategy.mode == "loadbalance"
    assert [t.weight for t in spread.targets] == [3, 1]
