"""Route facts the screens show: the picker's order, one-line summaries, which routes need missing keys."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.profiles.steps import step_targets

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile


def route_options(loaded: LoadedProfile) -> list[str]:
    """The profile's routes, its default route first, then the others in file order."""
    default, _ = loaded.profile.route(None)
    return [default] + [name for name in loaded.profile.routes if name != default]


def route_targets(loaded: LoadedProfile, name: str) -> list[str]:
    """Every model alias a route may call, in order, once each."""
    out: list[str] = []
    for _, step in loaded.profile.routes[name].all_steps():
        for alias in step_targets(step):
            if alias not in out:
                out.append(alias)
    return out


def route_summary(loaded: LoadedProfile, name: str) -> str:
    """One line about a route: its description, else its targets."""
    route = loaded.profile.routes[name]
    targets = " → ".join(route_targets(loaded, name))
    text = route.description or f"targets {targets}"
    if route.max_cost_usd is not None:
        text += f" · cap ${route.max_cost_usd}"
    return text


def routes_missing_env(loaded: LoadedProfile, environ: Mapping[str, str] = os.environ) -> dict[str, list[str]]:
    """route -> env vars its providers need but that are unset (empty dict: every route is usable)."""
    profile = loaded.profile
    out: dict[str, list[str]] = {}
    for name in profile.routes:
        need: list[str] = []
        for alias in route_targets(loaded, name):
            model = profile.models.get(alias)
            provider = profile.providers.get(model.provider) if model else None
            if provider is None or provider.kind == "sim":
                continue
            for var in sorted(provider.env_refs()):
                if not environ.get(var) and var not in need:
                    need.append(var)
        if need:
            out[name] = need
    return out


def price_lookup(loaded: LoadedProfile) -> Any:
    """alias -> the price entry in force today (None when unpriced): for live cost estimates."""
    from workbench.accounting.prices import select_price

    cache: dict[str, Any] = {}

    def price_of(alias: str) -> Any:
        if alias not in cache:
            model = loaded.profile.models.get(alias)
            cache[alias] = select_price(model.prices) if model is not None else None
        return cache[alias]

    return price_of
