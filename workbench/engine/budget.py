"""Latency budgets: deadlines on the monotonic clock for a run (route-level `budget.latency_ms`) and a step.

The engine enforces them: an attempt's timeouts are cut to what is left, a retry or fallback whose expected
latency (the target's recent latency EWMA from `workbench.engine.health`; unknown counts as 0 — the call is
tried, bounded by the deadline) does not fit is not started, and a step out of time goes to its
`budget.fast_fallback` or ends `degraded` with the best answer so far. Tolerance (`budget.tolerance_ms`) is the
overrun the engine states it may take to close the attempt in flight.
"""

from __future__ import annotations

from typing import Any

from workbench.engine import health
from workbench.profiles.resolve import Resolved


def run_budget_ms(profile: Any, route_name: str) -> float | None:
    """The whole run's latency budget: the route's own `budget.latency_ms`, else the profile's."""
    route = profile.routes.get(route_name)
    for level in (route, profile.policies):
        budget = getattr(level, "budget", None)
        if budget is not None and budget.latency_ms is not None:
            return float(budget.latency_ms)
    return None


def step_budget_ms(policy: Resolved | None, route_name: str) -> float | None:
    """A step's own latency budget (set on the step or an enclosing step, not inherited from the route)."""
    if policy is None or policy.budget.latency_ms is None:
        return None
    origin = policy.origins.get("budget.latency_ms", "")
    return float(policy.budget.latency_ms) if origin.startswith(f"routes.{route_name}.steps") else None


def expected_s(health_key: str) -> float:
    """How long a call to this target is expected to take: its recent latency EWMA (0 when never measured)."""
    h = health._targets.get(health_key)
    if h is None or h.ewma_latency_ms is None:
        return 0.0
    return h.ewma_latency_ms / 1000.0
