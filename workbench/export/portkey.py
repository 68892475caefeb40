"""Portkey export: a Portkey gateway config (JSON) for one route.

The entry step's targets become `targets` under `strategy: {mode: fallback}` (in the route's order), or
`loadbalance` with `weight`s when the step balances `weighted`; a route step whose rules look only at request
metadata becomes `mode: conditional` with one named target group per branch (Portkey matches `metadata.KEY`).
Each target carries `provider`, `api_key` as an `${ENV_NAME}` placeholder (substitute it, or swap in a
`virtual_key`, before uploading: Portkey has no environment references of its own), `override_params.model`,
`retry: {attempts, on_status_codes}` from the retry policy and `request_timeout` (ms).

Portkey's config schema has no place for comments or unknown keys, so what it cannot express is returned as
warnings only: the CLI prints them on stderr and, with `-o FILE`, writes them beside it as `FILE.warnings.txt`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from workbench.export.common import (
    ExportError,
    ExportResult,
    Provenance,
    first_chain,
    metadata_only,
    pick_route,
    unsupported,
)
from workbench.profiles.models import Profile, Route
from workbench.profiles.resolve import resolve
from workbench.profiles.steps import GenerateStep, RouteStep

SIM_URL_ENV = "WORKBENCH_SIM_URL"
SIM_KEY_ENV = "WORKBENCH_SIM_KEY"

# our retryable error classes -> the HTTP status codes that carry them
STATUS_CODES: dict[str, list[int]] = {
    "rate_limit": [429],
    "overloaded": [503, 529],
    "server": [500, 502, 504],
    "timeout": [408],
}


def _codes(on: Sequence[str] | None) -> list[int]:
    return sorted({code for cls in (on or []) for code in STATUS_CODES.get(cls, [])})


def _target(profile: Profile, route: str, path: tuple[str | int, ...], step: GenerateStep, i: int) -> dict[str, Any]:
    spec = step.targets[i]
    model = profile.models[spec.model]
    provider = profile.providers[model.provider]
    pol = resolve(profile, route, path, i)
    out: dict[str, Any] = {}
    if provider.kind == "sim":
        out["provider"] = "openai"
        out["custom_host"] = "${" + SIM_URL_ENV + "}"
        out["api_key"] = "${" + SIM_KEY_ENV + "}"
    else:
        out["provider"] = provider.kind
        if provider.base_url:
            out["custom_host"] = provider.base_url
        if provider.api_key_env:
            out["api_key"] = "${" + provider.api_key_env + "}"
    params: dict[str, Any] = {"model": model.model}
    temperature = spec.temperature if spec.temperature is not None else step.temperature
    if temperature is not None:
        params["temperature"] = temperature
    cap = spec.max_output_tokens or step.max_output_tokens
    if cap is not None:
        params["max_tokens"] = cap
    out["override_params"] = params
    attempts = max(0, (pol.retry.max_attempts or 1) - 1)
    if attempts:
        out["retry"] = {"attempts": attempts, "on_status_codes": _codes(pol.retry.on)}
    if pol.timeouts.total is not None:
        out["request_timeout"] = int(pol.timeouts.total * 1000)
    if spec.weight is not None:
        out["weight"] = spec.weight
    return out


def _group(profile: Profile, route: str, path: tuple[str | int, ...], step: GenerateStep) -> dict[str, Any]:
    pol = resolve(profile, route, path, 0)
    targets = [_target(profile, route, path, step, i) for i in range(len(step.targets))]
    if pol.balance.strategy == "weighted":
        for t in targets:
            t.setdefault("weight", 1)
        return {"strategy": {"mode": "loadbalance"}, "targets": targets}
    return {"strategy": {"mode": "fallback", "on_status_codes": _codes(pol.retry.on)}, "targets": targets}


def _first_generate(steps: list[Any], base: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], GenerateStep]:
    for i, step in enumerate(steps):
        if isinstance(step, GenerateStep):
            return (*base, i), step
    raise ExportError("a branch has no generate step to export")


def _conditional(profile: Profile, name: str, route: Route) -> dict[str, Any] | None:
    step = route.steps[0]
    if not (isinstance(step, RouteStep) and step.rules and metadata_only(step)):
        return None
    groups: dict[str, dict[str, Any]] = {}
    for bname, branch in step.branches.items():
        path, gen = _first_generate(branch, (0, "branches", bname))
        groups[bname] = {"name": bname, **_group(profile, name, path, gen)}
    conditions = []
    for rule in step.rules:
        query: dict[str, Any] = {}
        for key, want in rule.when.metadata.items():
            query[f"metadata.{key}"] = {"$in": list(want)} if isinstance(want, list) else {"$eq": want}
        conditions.append(
            {"query": query if len(query) == 1 else {"$and": [{k: v} for k, v in query.items()]}, "then": rule.branch}
        )
    return {
        "strategy": {"mode": "conditional", "conditions": conditions, "default": step.default},
        "targets": list(groups.values()),
    }


def export_portkey(profile: Profile, route: str | None, provenance: Provenance) -> ExportResult:
    name, chosen = pick_route(profile, route)
    warnings = unsupported(profile, name, chosen, fmt="portkey")
    config = _conditional(profile, name, chosen)
    if config is None:
        path, step = first_chain(chosen)
        config = _group(profile, name, path, step)
        pol = resolve(profile, name, path, 0)
        if pol.balance.strategy not in (None, "none", "weighted"):
            warnings.append(f"balance strategy {pol.balance.strategy!r}: Portkey falls back in the order given")
    if any(profile.providers[profile.models[a].provider].kind == "sim" for a in profile.models):
        used = {t["custom_host"] for t in _all_targets(config) if t.get("custom_host") == "${" + SIM_URL_ENV + "}"}
        if used:
            warnings.append(
                f"simulated models are exported as OpenAI-compatible targets at ${{{SIM_URL_ENV}}}"
                f" (e.g. http://127.0.0.1:PORT/v1 from `workbench sim serve`)"
            )
    warnings.append(
        "api_key values are ${ENV_NAME} placeholders: substitute them (or use virtual_key) before uploading"
    )
    return ExportResult(text=json.dumps(config, indent=2) + "\n", warnings=warnings, format="portkey", route=name)


def _all_targets(config: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in config.get("targets", []):
        if "targets" in t:
            out.extend(_all_targets(t))
        else:
            out.append(t)
    return out
