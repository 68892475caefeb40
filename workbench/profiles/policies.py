"""Policies: how a call is retried, timed, budgeted, circuit-broken, hedged and balanced.

Every policy block can be written at four levels — the profile, a route, a step and a single target — and the
nearest one wins *field by field* (a step that sets only `retry.max_attempts` keeps the route's backoff). In the
files every field is optional; `resolve()` (see `workbench.profiles.resolve`) fills what no level set from the
defaults below, and remembers where each value came from so `workbench profile explain` can show it.

Numbers are bounded to what the engine can carry: a timeout of a year, ten thousand retries or a negative wait
are profile errors at load, with the file's line, never a crash mid-run.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workbench.accounting.prices import NonNegativeDecimal
from workbench.errors import RETRY_ON_DEFAULT, ErrorClass

# An hour is the longest wait or timeout a profile may ask for; anything longer is a typo, not a policy.
MAX_SECONDS = 3600.0
#: the classes `retry.on` may list: what another call to the same target might cure (never quota, auth ...)
ErrorClassName = Literal[
    ErrorClass.RATE_LIMIT,
    ErrorClass.OVERLOADED,
    ErrorClass.SERVER,
    ErrorClass.TIMEOUT,
    ErrorClass.CONFLICT,
    ErrorClass.CONNECTION,
    ErrorClass.MALFORMED,
    ErrorClass.UNKNOWN,
    ErrorClass.CONTEXT_WINDOW,
]
RETRYABLE_DEFAULT: tuple[str, ...] = tuple(RETRY_ON_DEFAULT)


class PolicyBlock(BaseModel):
    """Base of every policy block: unknown keys are errors; every field optional (None = inherit)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetryPolicy(PolicyBlock):
    """Retries on the same target before falling back. `max_attempts` counts the first call (1 = no retry)."""

    max_attempts: int | None = Field(default=None, ge=1, le=10, description="calls per target, first included")
    backoff_base_s: float | None = Field(default=None, ge=0, le=60, description="first backoff (seconds)")
    backoff_cap_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS, description="longest backoff")
    jitter: Literal["full", "none"] | None = Field(default=None, description="full jitter (AWS) or none")
    honour_retry_after: bool | None = Field(default=None, description="wait as the provider's Retry-After says")
    retry_after_cap_s: float | None = Field(
        default=None, ge=0, le=MAX_SECONDS, description="a longer Retry-After falls back instead of waiting"
    )
    on: list[ErrorClassName] | None = Field(
        default=None, description="error classes retried (never quota, auth, bad_request, content_policy)"
    )


class TimeoutPolicy(PolicyBlock):
    """Seconds. `connect`: TCP/TLS; `first_token`: request sent -> first content token; `idle`: between two chunks
    of a stream; `total`: the whole attempt."""

    connect: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    first_token: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    idle: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    total: float | None = Field(default=None, gt=0, le=MAX_SECONDS)


class BudgetPolicy(PolicyBlock):
    """A deadline and a spend limit. At run level they bound the whole run; at step level the step."""

    latency_ms: float | None = Field(default=None, gt=0, le=MAX_SECONDS * 1000, description="deadline (ms)")
    cost_usd: NonNegativeDecimal | None = Field(default=None, le=Decimal(1_000_000), description="spend cap (USD)")
    fast_fallback: str | None = Field(
        default=None, description="model alias to go straight to when what is left cannot cover the next attempt"
    )
    tolerance_ms: float | None = Field(default=None, ge=0, le=60_000, description="stated overrun tolerance")


class BreakerPolicy(PolicyBlock):
    """Circuit breaker per target, shared by every run in the process."""

    enabled: bool | None = None
    failures: int | None = Field(default=None, ge=1, le=1000, description="K retryable failures ...")
    window_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS, description="... within W seconds open it")
    open_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS, description="skipped for T seconds")
    open_cap_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS, description="T doubles up to this cap")


class HedgePolicy(PolicyBlock):
    """Start the next target in parallel when the current one has no first token after `after_ms`."""

    after_ms: float | None = Field(default=None, gt=0, le=MAX_SECONDS * 1000)
    max_parallel: int | None = Field(default=None, ge=2, le=6)


BalanceStrategy = Literal["none", "weighted", "least_busy", "lowest_latency", "cheapest"]


class BalancePolicy(PolicyBlock):
    """How to order equivalent targets before trying them (`none`: as written, the fallback order)."""

    strategy: BalanceStrategy | None = None
    seed: int | None = Field(default=None, description="seed for `weighted` (a test can predict the choice)")


class QueuePolicy(PolicyBlock):
    """When every target of a step has an open breaker: wait in a bounded queue for a probe to succeed."""

    enabled: bool | None = None
    max_waiting: int | None = Field(default=None, ge=0, le=100_000)


StreamFailure = Literal["restart", "continue"]


class Policies(PolicyBlock):
    """The policy fields a profile, route, step or target may set. Nearest level wins, field by field."""

    retry: RetryPolicy | None = None
    timeouts: TimeoutPolicy | None = None
    budget: BudgetPolicy | None = None
    breaker: BreakerPolicy | None = None
    hedge: HedgePolicy | None = None
    balance: BalancePolicy | None = None
    queue: QueuePolicy | None = None
    on_stream_failure: StreamFailure | None = Field(
        default=None, description="a stream broken mid-way: `restart` clean, or `continue` from the partial text"
    )


POLICY_FIELDS: tuple[str, ...] = tuple(Policies.model_fields)

# What a user would expect with nothing written. Reasoning models think before their first token: their
# first-token timeout is longer (see `defaults_for`).
DEFAULTS: dict[str, dict[str, object] | str] = {
    "retry": {
        "max_attempts": 2,
        "backoff_base_s": 0.25,
        "backoff_cap_s": 8.0,
        "jitter": "full",
        "honour_retry_after": True,
        "retry_after_cap_s": 10.0,
        "on": [str(c) for c in RETRY_ON_DEFAULT],
    },
    "timeouts": {"connect": 5.0, "first_token": 30.0, "idle": 30.0, "total": 300.0},
    "budget": {"latency_ms": None, "cost_usd": None, "fast_fallback": None, "tolerance_ms": 100.0},
    "breaker": {"enabled": True, "failures": 5, "window_s": 30.0, "open_s": 10.0, "open_cap_s": 300.0},
    "hedge": {"after_ms": None, "max_parallel": 2},
    "balance": {"strategy": "none", "seed": None},
    "queue": {"enabled": False, "max_waiting": 100},
    "on_stream_failure": "restart",
}
REASONING_FIRST_TOKEN_S = 120.0


def defaults_for(reasoning: bool) -> dict[str, object]:
    """The built-in defaults, adjusted for the kind of model (reasoning models get a longer first token)."""
    out: dict[str, object] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    if reasoning:
        timeouts = out["timeouts"]
        assert isinstance(timeouts, dict)
        timeouts["first_token"] = REASONING_FIRST_TOKEN_S
    return out
