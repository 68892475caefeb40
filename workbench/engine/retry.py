"""Whether to call the same target again after a failure, and how long to wait first.

Pure functions over the resolved `retry` policy; `StepRunner.settle` (step.py) turns the verdict into a `retry`
decision (and the next attempt hop) or a fallback that says why it did not retry.

The wait is the provider's Retry-After when it sent one (any form: the adapters parse delta-seconds, HTTP dates,
`retry-after-ms` and body hints into `ProviderError.retry_after_s`) and `honour_retry_after` is on — unless it is
longer than `retry_after_cap_s`, in which case waiting is refused and the step falls back. Otherwise exponential
backoff with full jitter (AWS): uniform(0, min(cap, base * 2**(n-1))) after the n-th call, from a generator seeded
by run id, step path, target and attempt, so a test that names the run id can predict every wait.

Default: `max_attempts` 2 retries a failing target once *when it is the step's last target* (a single-target step
gets the SDK-like second chance); while a fallback target remains, the built-in default falls back at once — a
healthy fallback now beats a failing primary later. Writing `retry.max_attempts` at any level of the profile
retries that target before falling back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from workbench.profiles.resolve import Resolved
from workbench.providers.base import ProviderError


@dataclass(slots=True)
class RetryVerdict:
    retry: bool
    wait_s: float = 0.0
    source: str = ""  # "retry_after" | "backoff"
    why_not: str = ""  # when retry is False and a retry was otherwise possible: why (said in the fallback)


def backoff_s(policy: Resolved, attempt: int, seed: str) -> float:
    """Wait after the `attempt`-th failed call: full jitter over an exponentially growing ceiling."""
    retry = policy.retry
    cap, base = float(retry.backoff_cap_s or 0.0), float(retry.backoff_base_s or 0.0)
    ceiling: float = min(cap, base * 2.0 ** (attempt - 1))
    if retry.jitter == "none":
        return ceiling
    return float(random.Random(seed).uniform(0.0, ceiling))


def decide(
    policy: Resolved | None,
    err: ProviderError | None,
    attempt: int,
    *,
    has_next: bool,
    seed: str,
) -> RetryVerdict:
    """May the target be called again after `attempt` calls failed with `err`? If so, after how long."""
    if policy is None or err is None or not err.retryable:
        return RetryVerdict(False)
    retry = policy.retry
    if err.kind not in (retry.on or ()):
        return RetryVerdict(False)
    if attempt >= retry.max_attempts:  # type: ignore[operator]
        return RetryVerdict(False)
    if has_next and policy.origins.get("retry.max_attempts", "default").startswith("default"):
        return RetryVerdict(False)  # the built-in default prefers a remaining fallback to a second call
    if retry.honour_retry_after and err.retry_after_s is not None:
        wait = max(0.0, float(err.retry_after_s))
        cap = float(retry.retry_after_cap_s)  # type: ignore[arg-type]
        if wait > cap:
            return RetryVerdict(False, wait, "retry_after", f"Retry-After {wait:g}s is over the {cap:g}s cap")
        return RetryVerdict(True, wait, "retry_after")
    return RetryVerdict(True, backoff_s(policy, attempt, seed), "backoff")
