"""Statistics for evals: Wilson score intervals, Newcombe's interval for a difference of two proportions,
nearest-rank percentiles and a seeded bootstrap for ratios of means.

Wilson (95%, z = 1.959964): centre (p + z²/2n) / (1 + z²/n), half-width z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
Newcombe (method 10): d = p1 - p2, lower = d - sqrt((p1-l1)² + (u2-p2)²), upper = d + sqrt((u1-p1)² + (p2-l2)²),
where (l, u) are each proportion's Wilson bounds. The difference is "significant" when 0 is outside it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """(p1 - p2, lower, upper): Newcombe's hybrid score interval for the difference of two proportions."""
    p1 = k1 / n1 if n1 else 0.0
    p2 = k2 / n2 if n2 else 0.0
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def bootstrap_ratio(
    a: Sequence[float], b: Sequence[float], *, rounds: int = 1000, seed: int = 0
) -> tuple[float, float, float] | None:
    """mean(b)/mean(a) and its 95% percentile-bootstrap interval, resampling paired cases (a[i], b[i])."""
    n = len(a)
    if n == 0 or n != len(b) or sum(a) == 0:
        return None
    ratio = (sum(b) / n) / (sum(a) / n)
    rng = random.Random(seed)
    samples: list[float] = []
    for _ in range(rounds):
        idx = [rng.randrange(n) for _ in range(n)]
        sa = sum(a[i] for i in idx)
        if sa == 0:
            continue
        samples.append(sum(b[i] for i in idx) / sa)
    samples.sort()
    if not samples:
        return ratio, ratio, ratio
    lo = samples[int(0.025 * (len(samples) - 1))]
    hi = samples[int(math.ceil(0.975 * (len(samples) - 1)))]
    return ratio, lo, hi
