"""What every export shares: the route's scope (models, providers), its provenance and the unsupported features.

`scope(profile, route)` collects every model alias a route may call (targets, classifiers, judges, strong/weak
models, fast fallbacks, allow lists) and the providers behind them. `unsupported(...)` lists, in words, the parts
of a route a gateway config cannot express (gates, budgets, hedging, classifier routes, retrieval, parallel
steps...). The format modules turn those into warnings, never dropping them silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import WorkbenchError
from workbench.profiles.models import Profile, Route
from workbench.profiles.steps import (
    GateStep,
    GenerateStep,
    ParallelStep,
    RetrieveStep,
    RouteStep,
    TransformStep,
    step_targets,
)


class ExportError(WorkbenchError):
    """An export that cannot be made (unknown route, unknown format, a route with nothing to call)."""


@dataclass(frozen=True)
class Provenance:
    """Where an export came from: the source profile's file and hash, and the eval that justified it (if any)."""

    source: str
    sha256: str
    eval_id: str | None = None
    pass_rate: float | None = None
    cost_per_1k_usd: str | None = None
    when: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def lines(self, route: str) -> list[str]:
        out = [
            f"exported by workbench from {self.source}, route {route!r}, at {self.when}",
            f"source profile sha256: {self.sha256}",
        ]
        if self.eval_id:
            rate = "" if self.pass_rate is None else f", pass rate {self.pass_rate:.1%}"
            cost = "" if self.cost_per_1k_usd is None else f", ${self.cost_per_1k_usd} per 1k runs"
            out.append(f"eval {self.eval_id}{rate}{cost}")
        return out


@dataclass(frozen=True)
class ExportResult:
    text: str
    warnings: list[str]
    format: str
    route: str


def route_models(route: Route) -> list[str]:
    """Every model alias the route may call, in first-use order."""
    names: list[str] = []

    def add(name: str | None) -> None:
        if name and name not in names:
            names.append(name)

    for _, step in route.all_steps():
        for name in step_targets(step):
            add(name)
        if isinstance(step, RouteStep) and step.strong_weak is not None:
            add(step.strong_weak.strong)
            add(step.strong_weak.weak)
        budget = getattr(step, "budget", None)
        if budget is not None:
            add(budget.fast_fallback)
        allow = getattr(step, "allow", None)
        if allow is not None:
            for name in allow.models:
                add(name)
    if route.budget is not None:
        add(route.budget.fast_fallback)
    return names


def route_providers(profile: Profile, models: list[str]) -> list[str]:
    out: list[str] = []
    for alias in models:
        prov = profile.models[alias].provider
        if prov not in out:
            out.append(prov)
    return out


def pick_route(profile: Profile, route: str | None) -> tuple[str, Route]:
    try:
        return profile.route(route)
    except KeyError:
        raise ExportError(f"the profile has no route {route!r}", hint=f"routes: {', '.join(profile.routes)}") from None


def generate_chains(route: Route) -> list[tuple[tuple[str | int, ...], GenerateStep]]:
    """The route's generate steps with their paths (each one's targets are a fallback chain)."""
    return [(path, step) for path, step in route.all_steps() if isinstance(step, GenerateStep)]


def unsupported(profile: Profile, route_name: str, route: Route, *, fmt: str) -> list[str]:
    """The route's features a gateway config (`fmt`) cannot express, one sentence each."""
    out: list[str] = []
    steps = route.all_steps()
    where = f"route {route_name!r}"
    for _path, step in steps:
        at = f"{where} step {step.name!r}"
        if isinstance(step, GateStep):
            out.append(f"{at}: gate checks ({', '.join(c.type for c in step.checks)}) are not exported")
        elif isinstance(step, RetrieveStep):
            out.append(f"{at}: retrieval from {step.corpus!r} is not exported")
        elif isinstance(step, ParallelStep):
            out.append(f"{at}: a parallel step (merge {step.merge}) is not exported")
        elif isinstance(step, TransformStep):
            out.append(f"{at}: a transform template is not exported")
        elif isinstance(step, RouteStep):
            if step.classifier is not None:
                out.append(f"{at}: a classifier router is not exported; only the default branch is")
            elif step.strong_weak is not None:
                out.append(f"{at}: a strong/weak router is not exported; only the default branch is")
            elif step.rules is not None and not (fmt == "portkey" and _metadata_only(step)):
                out.append(f"{at}: routing rules on the prompt's text are not exported; only the default branch is")
        if isinstance(step, GenerateStep):
            if step.system:
                out.append(f"{at}: the system prompt is not part of a gateway config; send it from the client")
            if step.prompt:
                out.append(f"{at}: the prompt template is not exported")
        if step.hedge is not None and step.hedge.after_ms is not None:
            out.append(f"{at}: hedging after {step.hedge.after_ms} ms is not exported")
        if getattr(step, "max_cost_usd", None) is not None or (step.budget is not None and step.budget.cost_usd):
            out.append(f"{at}: a cost cap for the step is not exported")
        if step.budget is not None and step.budget.latency_ms is not None:
            out.append(f"{at}: a latency budget of {step.budget.latency_ms} ms is not exported")
        if step.redact:
            out.append(f"{at}: redaction of {', '.join(step.redact)} is not exported")
        if step.allow is not None:
            out.append(f"{at}: the allow list is not exported")
    if route.max_cost_usd is not None:
        out.append(f"{where}: the cost cap of ${route.max_cost_usd} per run is not exported")
    if route.budget is not None and (route.budget.latency_ms is not None or route.budget.cost_usd is not None):
        out.append(f"{where}: the route's budget (deadline/spend) is not exported")
    if route.hedge is not None and route.hedge.after_ms is not None:
        out.append(f"{where}: hedging after {route.hedge.after_ms} ms is not exported")
    if profile.policies.hedge is not None and profile.policies.hedge.after_ms is not None:
        out.append(f"profile policies: hedging after {profile.policies.hedge.after_ms} ms is not exported")
    chains = generate_chains(route)
    top = [p for p, _ in chains if len(p) == 1]
    if len(top) > 1:
        out.append(
            f"{where}: {len(top)} generate steps run one after another; a gateway serves one call, so only the"
            f" first step's fallback chain is the exported entry point"
        )
    return out


def _metadata_only(step: RouteStep) -> bool:
    return bool(step.rules) and all(
        r.when.metadata and not (r.when.regex or r.when.keywords or r.when.min_tokens or r.when.max_tokens)
        for r in step.rules or []
    )


def metadata_only(step: RouteStep) -> bool:
    """Rules that look only at request metadata (a gateway's conditional routing can express those)."""
    return _metadata_only(step)


def as_comment(lines: list[str]) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def first_chain(route: Route) -> tuple[tuple[str | int, ...], GenerateStep]:
    """The generate step a gateway call stands for: the first one met (a route step's default branch first)."""
    return _first_in(route.steps, ())


def _first_in(steps: list[Any], base: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], GenerateStep]:
    for i, step in enumerate(steps):
        here = (*base, i)
        if isinstance(step, GenerateStep):
            return here, step
        if isinstance(step, RouteStep):
            try:
                return _first_in(step.branches[step.default], (*here, "branches", step.default))
            except ExportError:
                continue
    raise ExportError("the route has no generate step with targets to export")
