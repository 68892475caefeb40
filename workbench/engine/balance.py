"""Load balancing among a step's equivalent targets: the order they are tried in, and why.

`balance.strategy` on the step (or above it):
    none            the order written (primary, then fallbacks)
    weighted        a random order drawn by `weight` (default 1), seeded by `balance.seed` (or the run id) with
                    the run id and step path, so a run that names its id gets the same order every time
    least_busy      fewest calls in flight first (`workbench.engine.health`), ties in written order
    lowest_latency  lowest recent latency EWMA first; a target never measured counts as 0 (it gets measured)
    cheapest        lowest price (input + output per million tokens, the entry in force today) first; unpriced last

The order is a `balance` decision (`data`: strategy, order, and the figure each target was ranked by).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from workbench.accounting.prices import select_price
from workbench.engine import health


def order(
    strategy: str, targets: list[Any], profile: Any, *, seed: int | None, run_id: str, path: str
) -> tuple[list[int], dict[str, Any]]:
    """(indices in the order to try, the figure each was ranked by keyed by alias)."""
    n = len(targets)
    if strategy == "weighted":
        rng = random.Random(f"{seed if seed is not None else ''}|{run_id}|{path}")
        left = list(range(n))
        weights = [float(targets[j].weight or 1.0) for j in left]
        out: list[int] = []
        while left:
            pick = rng.choices(range(len(left)), weights=weights)[0]
            out.append(left.pop(pick))
            weights.pop(pick)
        return out, {targets[j].model: float(targets[j].weight or 1.0) for j in range(n)}
    keys: list[float]
    if strategy == "least_busy":
        keys = [float(_health(profile, t).in_flight) for t in targets]
    elif strategy == "lowest_latency":
        keys = [_health(profile, t).ewma_latency_ms or 0.0 for t in targets]
    elif strategy == "cheapest":
        today = dt.date.today()
        keys = []
        for t in targets:
            price = select_price(profile.models[t.model].prices, today)
            keys.append(float("inf") if price is None else float(price.input + price.output))
    else:
        return list(range(n)), {}
    return sorted(range(n), key=lambda j: (keys[j], j)), {targets[j].model: keys[j] for j in range(n)}


def _health(profile: Any, target: Any) -> health.TargetHealth:
    model = profile.models[target.model]
    return health.get(health.key(model.provider, model.model))
