"""One inheritance rule for policies: the nearest level wins, field by field.

Levels, farthest first:
    defaults            built in (`policies.DEFAULTS`; reasoning models get a longer first-token timeout)
    provider            a provider's own `timeouts:` (the endpoint's known behaviour)
    profile             `policies:` at the top of the profile
    route               policy fields on the route
    step                policy fields on the step (for a step inside a branch: the enclosing steps first)
    target              policy fields on one target of a step (`{model: x, retry: {...}}`)

`resolve(profile, route, step_path, target_index)` returns a `Resolved` whose blocks have every field filled,
and `origins`: for each `block.field`, the dotted path of the profile key that set it (or `default`), which
`workbench profile explain` turns into file:line. Resolutions are cached per profile object: the engine asks
once per (route, step, target), not per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.profiles.policies import (
    POLICY_FIELDS,
    BalancePolicy,
    BreakerPolicy,
    BudgetPolicy,
    HedgePolicy,
    Policies,
    PolicyBlock,
    QueuePolicy,
    RetryPolicy,
    StreamFailure,
    TimeoutPolicy,
    defaults_for,
)

_BLOCKS: dict[str, type[PolicyBlock]] = {
    "retry": RetryPolicy,
    "timeouts": TimeoutPolicy,
    "budget": BudgetPolicy,
    "breaker": BreakerPolicy,
    "hedge": HedgePolicy,
    "balance": BalancePolicy,
    "queue": QueuePolicy,
}


@dataclass(slots=True)
class Resolved:
    """The policy in force for one target of one step, every field filled."""

    retry: RetryPolicy
    timeouts: TimeoutPolicy
    budget: BudgetPolicy
    breaker: BreakerPolicy
    hedge: HedgePolicy
    balance: BalancePolicy
    queue: QueuePolicy
    on_stream_failure: StreamFailure
    origins: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name).model_dump(mode="json") for name in _BLOCKS}
        out["on_stream_failure"] = self.on_stream_failure
        return out


def _step_chain(route: Any, step_path: tuple[str | int, ...]) -> list[tuple[str, Any]]:
    """The steps from the route's top level down to the one at `step_path`, with their dotted paths."""
    chain: list[tuple[str, Any]] = []
    container: Any = route.steps
    dotted = "steps"
    i = 0
    while i < len(step_path):
        index = step_path[i]
        step = container[index]
        dotted = f"{dotted}.{index}"
        chain.append((dotted, step))
        i += 1
        if i < len(step_path):
            key = step_path[i]
            if key == "branches":
                bname = step_path[i + 1]
                container = step.branches[bname]
                dotted = f"{dotted}.branches.{bname}"
                i += 2
            elif key == "steps":
                container = step.steps
                dotted = f"{dotted}.steps"
                i += 1
            else:
                raise KeyError(f"bad step path {step_path!r}")
    return chain


def resolve(
    profile: Any,
    route_name: str,
    step_path: tuple[str | int, ...],
    target_index: int | None = None,
) -> Resolved:
    """The policy in force for target `target_index` of the step at `step_path` in route `route_name`."""
    cache: dict[Any, Resolved] = profile._policy_cache
    key = (route_name, step_path, target_index)
    hit = cache.get(key)
    if hit is not None:
        return hit

    route = profile.routes[route_name]
    chain = _step_chain(route, step_path)
    step = chain[-1][1]
    target = None
    model = None
    targets = getattr(step, "targets", None)
    if target_index is not None and targets:
        target = targets[target_index]
        model = profile.models.get(target.model)

    values: dict[str, Any] = defaults_for(bool(model is not None and model.reasoning))
    origins: dict[str, str] = {}
    for block, data in values.items():
        if isinstance(data, dict):
            for f in data:
                origins[f"{block}.{f}"] = (
                    "default (reasoning model)"
                    if (block == "timeouts" and f == "first_token" and model is not None and model.reasoning)
                    else "default"
                )
        else:
            origins[block] = "default"

    levels: list[tuple[str, Policies | None]] = []
    if model is not None:
        provider = profile.providers.get(model.provider)
        if provider is not None and "timeouts" in provider.model_fields_set:
            levels.append((f"providers.{model.provider}.timeouts", _provider_timeouts(provider)))
    levels.append(("policies", profile.policies))
    levels.append((f"routes.{route_name}", route))
    for dotted, s in chain:
        levels.append((f"routes.{route_name}.{dotted}", s))
    if target is not None:
        levels.append((f"routes.{route_name}.{chain[-1][0]}.targets.{target_index}", target))

    for prefix, level in levels:
        if level is None:
            continue
        if prefix.startswith("providers."):
            assert isinstance(level, Policies) and level.timeouts is not None
            for f in level.timeouts.model_fields_set:
                values["timeouts"][f] = getattr(level.timeouts, f)
                origins[f"timeouts.{f}"] = f"{prefix}.{f}"
            continue
        for block in POLICY_FIELDS:
            set_value = getattr(level, block, None)
            if set_value is None:
                continue
            if block == "on_stream_failure":
                values[block] = set_value
                origins[block] = f"{prefix}.{block}"
                continue
            for f in set_value.model_fields_set:
                v = getattr(set_value, f)
                if v is None:
                    continue
                values[block][f] = v
                origins[f"{block}.{f}"] = f"{prefix}.{block}.{f}"

    resolved = Resolved(
        retry=RetryPolicy.model_construct(**values["retry"]),
        timeouts=TimeoutPolicy.model_construct(**values["timeouts"]),
        budget=BudgetPolicy.model_construct(**values["budget"]),
        breaker=BreakerPolicy.model_construct(**values["breaker"]),
        hedge=HedgePolicy.model_construct(**values["hedge"]),
        balance=BalancePolicy.model_construct(**values["balance"]),
        queue=QueuePolicy.model_construct(**values["queue"]),
        on_stream_failure=values["on_stream_failure"],
        origins=origins,
    )
    cache[key] = resolved
    return resolved


def _provider_timeouts(provider: Any) -> Policies:
    t = provider.timeouts
    return Policies(timeouts=TimeoutPolicy(**{f: getattr(t, f) for f in t.model_fields_set}))
