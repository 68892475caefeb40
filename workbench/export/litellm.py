"""LiteLLM export: a LiteLLM proxy `config.yaml` for one route.

Each model the route's entry step may call becomes a `model_list` deployment named by its alias, with
`litellm_params` (`model` with the provider prefix, `api_base`, `api_key: os.environ/NAME`, `timeout`,
`stream_timeout`). The step's fallback chain becomes `router_settings.fallbacks` (`[{primary: [next, ...]}]`) and
the resolved policies become `num_retries`, `timeout`, `allowed_fails`, `cooldown_time` and a `retry_policy` per
error class; `model_group_alias` lets a client ask for the route by name. A simulated provider has no endpoint of
its own: it is exported as an OpenAI-compatible one at `os.environ/WORKBENCH_SIM_URL`, with a warning.
Everything LiteLLM cannot express is listed in the file's header comment and returned as warnings.
"""

from __future__ import annotations

import io
from typing import Any

from workbench.export.common import (
    ExportResult,
    Provenance,
    as_comment,
    first_chain,
    pick_route,
    unsupported,
)
from workbench.profiles.models import Profile
from workbench.profiles.resolve import resolve

SIM_URL_ENV = "WORKBENCH_SIM_URL"
SIM_KEY_ENV = "WORKBENCH_SIM_KEY"

# our error classes -> LiteLLM's RetryPolicy fields
_RETRY_FIELDS = {
    "rate_limit": "RateLimitErrorRetries",
    "timeout": "TimeoutErrorRetries",
    "server": "InternalServerErrorRetries",
    "overloaded": "ServiceUnavailableErrorRetries",
}


def litellm_params(
    profile: Profile, alias: str, timeout_s: float, stream_timeout_s: float
) -> tuple[dict[str, Any], list[str]]:
    model = profile.models[alias]
    provider = profile.providers[model.provider]
    warnings: list[str] = []
    params: dict[str, Any] = {}
    if provider.kind == "sim":
        params["model"] = f"openai/{model.model}"
        params["api_base"] = f"os.environ/{SIM_URL_ENV}"
        params["api_key"] = f"os.environ/{SIM_KEY_ENV}"
        warnings.append(
            "simulated models are exported as OpenAI-compatible endpoints at"
            f" ${SIM_URL_ENV} (e.g. http://127.0.0.1:PORT/v1 from `workbench sim serve`; any value in ${SIM_KEY_ENV})"
        )
    else:
        params["model"] = f"{provider.kind}/{model.model}"
        if provider.base_url:
            params["api_base"] = provider.base_url
        if provider.api_key_env:
            params["api_key"] = f"os.environ/{provider.api_key_env}"
        if provider.headers:
            warnings.append(
                f"provider {model.provider!r}: extra headers ({', '.join(provider.headers)}) are not exported"
            )
    params["timeout"] = timeout_s
    params["stream_timeout"] = stream_timeout_s
    return params, warnings


def export_litellm(profile: Profile, route: str | None, provenance: Provenance) -> ExportResult:
    name, chosen = pick_route(profile, route)
    path, step = first_chain(chosen)
    warnings = unsupported(profile, name, chosen, fmt="litellm")
    chain = [t.model for t in step.targets]
    model_list: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, alias in enumerate(chain):
        pol = resolve(profile, name, path, i)
        params, extra = litellm_params(profile, alias, pol.timeouts.total or 300.0, pol.timeouts.first_token or 30.0)
        target = step.targets[i]
        if target.temperature is not None or step.temperature is not None:
            params["temperature"] = target.temperature if target.temperature is not None else step.temperature
        out_cap = target.max_output_tokens or step.max_output_tokens
        if out_cap is not None:
            params["max_tokens"] = out_cap
        if alias in seen:
            warnings.append(f"model {alias!r} appears twice in the fallback chain; LiteLLM keeps one deployment")
            continue
        seen.add(alias)
        warnings.extend(w for w in extra if w not in warnings)
        model_list.append({"model_name": alias, "litellm_params": params})
    pol = resolve(profile, name, path, 0)
    retries = max(0, (pol.retry.max_attempts or 1) - 1)
    on = set(pol.retry.on or [])
    retry_policy: dict[str, int] = {
        "AuthenticationErrorRetries": 0,
        "BadRequestErrorRetries": 0,
        "ContentPolicyViolationErrorRetries": 0,
    }
    for cls, fieldname in _RETRY_FIELDS.items():
        retry_policy[fieldname] = max(retry_policy.get(fieldname, 0), retries if cls in on else 0)
    for cls in on - set(_RETRY_FIELDS):
        warnings.append(f"retries on {cls} errors have no LiteLLM retry-policy field; LiteLLM's default applies")
    router: dict[str, Any] = {
        "routing_strategy": "simple-shuffle",
        "model_group_alias": {name: chain[0]},
        "num_retries": retries,
        "timeout": pol.timeouts.total,
        "retry_policy": retry_policy,
    }
    if len(chain) > 1:
        rest = [a for a in dict.fromkeys(chain[1:]) if a != chain[0]]
        # A request for the route's name is served by the alias group, which needs its own fallbacks entry.
        router["fallbacks"] = [{chain[0]: rest}] + ([{name: rest}] if name != chain[0] else [])
    if pol.breaker.enabled:
        router["allowed_fails"] = pol.breaker.failures
        router["cooldown_time"] = pol.breaker.open_s
        if pol.breaker.window_s is not None:
            warnings.append(
                f"the breaker's window of {pol.breaker.window_s} s and its doubling open time (cap"
                f" {pol.breaker.open_cap_s} s) have no LiteLLM setting; allowed_fails counts per minute"
            )
    else:
        router["disable_cooldowns"] = True
    if pol.balance.strategy not in (None, "none"):
        warnings.append(f"balance strategy {pol.balance.strategy!r}: LiteLLM tries the fallbacks in the order given")
    if pol.retry.honour_retry_after:
        warnings.append("Retry-After handling and its cap are LiteLLM's own, not the profile's")
    doc = {"model_list": model_list, "router_settings": router, "litellm_settings": {"drop_params": True}}
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 120
    buf = io.StringIO()
    yaml.dump(doc, buf)
    lines = [*provenance.lines(name), f"LiteLLM proxy config: `litellm --config FILE`; ask for model {name!r}"]
    if warnings:
        lines += ["", "NOT EXPORTED (LiteLLM cannot express these):", *(f"- {w}" for w in warnings)]
    return ExportResult(text=as_comment(lines) + buf.getvalue(), warnings=warnings, format="litellm", route=name)
