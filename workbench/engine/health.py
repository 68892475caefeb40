"""Target health shared by every run in the process: circuit breakers, recent latency, error rate, in-flight calls.

A target is one model on one provider (`key(provider, model_id)`). Its breaker goes

    closed --K retryable failures within W s--> open --T s later--> half_open --probe ok--> closed
                                                  ^                      |
                                                  +---probe failed-------+  (T doubled, up to open_cap_s)

While open, the engine skips the target (a `skip` decision and a skipped attempt hop, `error_class="breaker"`);
while half-open exactly one call (the probe) is let through and the others are skipped until it ends.
Only failures that say something about the target count (the retryable classes: rate limit, overloaded, server,
timeout, connection, malformed); a refused request (auth, bad request, quota) or a user's cancel does not.

`snapshot()` is what the TUI's health panel and `workbench run --health` read. `reset()` forgets everything
(tests start from a clean process state). Everything here runs on the event loop's thread: no locks needed.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from workbench.profiles.policies import BreakerPolicy

#: weight of the newest sample in the latency and error-rate averages
EWMA_ALPHA = 0.2


@dataclass(slots=True)
class TargetHealth:
    key: str
    state: str = "closed"  # closed | open | half_open
    failures: deque[float] = field(default_factory=deque)  # monotonic times of recent retryable failures
    open_until: float = 0.0  # monotonic
    open_s: float = 0.0  # the current open period (doubles on a failed probe)
    probing: bool = False  # a half-open probe is in flight
    in_flight: int = 0
    ewma_latency_ms: float | None = None
    error_rate: float = 0.0  # EWMA of 1 (failed) / 0 (ok) per call
    calls: int = 0
    errors: int = 0
    opened: int = 0  # how many times the breaker opened

    def as_dict(self, now: float) -> dict[str, Any]:
        state = self.state
        if state == "open" and now >= self.open_until:
            state = "half_open"  # due for a probe: the next call will be it
        out: dict[str, Any] = {
            "state": state,
            "failures": len(self.failures),
            "ewma_latency_ms": None if self.ewma_latency_ms is None else round(self.ewma_latency_ms, 3),
            "error_rate": round(self.error_rate, 4),
            "in_flight": self.in_flight,
            "calls": self.calls,
            "errors": self.errors,
            "opened": self.opened,
        }
        if self.state == "open":
            out["open_for_s"] = round(max(0.0, self.open_until - now), 3)
        return out


_targets: dict[str, TargetHealth] = {}


def key(provider: str, model_id: str) -> str:
    return f"{provider}/{model_id}"


def get(target: str) -> TargetHealth:
    h = _targets.get(target)
    if h is None:
        h = _targets[target] = TargetHealth(target)
    return h


_queues: dict[str, int] = {}  # route -> runs waiting in its outage queue


def reset() -> None:
    """Forget every target's history (tests; a new profile loaded in the TUI may call it too)."""
    _targets.clear()
    _queues.clear()


def queue_join(route: str, max_waiting: int) -> int | None:
    """Take a place in `route`'s outage queue: the 1-based position, or None when it is full."""
    waiting = _queues.get(route, 0)
    if waiting >= max_waiting:
        return None
    _queues[route] = waiting + 1
    return waiting + 1


def queue_leave(route: str) -> None:
    waiting = _queues.get(route, 0)
    if waiting <= 1:
        _queues.pop(route, None)
    else:
        _queues[route] = waiting - 1


def queued(route: str) -> int:
    return _queues.get(route, 0)


def snapshot() -> dict[str, dict[str, Any]]:
    """Per target: state, recent failures, latency EWMA (ms), error rate (EWMA), in-flight calls, totals."""
    now = time.monotonic()
    return {k: h.as_dict(now) for k, h in sorted(_targets.items())}


def admit(target: str, policy: BreakerPolicy, now: float | None = None) -> tuple[str, dict[str, Any] | None]:
    """May a call to `target` start? ("call" | "probe", None) or ("skip", decision data)."""
    h = _targets.get(target)
    if h is None or not policy.enabled or h.state == "closed":
        return "call", None
    now = time.monotonic() if now is None else now
    if h.state == "open":
        if now < h.open_until:
            return "skip", _skip_data(h, now)
        h.state = "half_open"
    # half open: one probe at a time
    if h.probing:
        return "skip", {**_skip_data(h, now), "state": "half_open", "probe_in_flight": True}
    h.probing = True
    return "probe", None


def _skip_data(h: TargetHealth, now: float) -> dict[str, Any]:
    return {
        "state": h.state,
        "open_until": round(time.time() + max(0.0, h.open_until - now), 3),
        "open_for_s": round(max(0.0, h.open_until - now), 3),
        "failures": len(h.failures),
    }


def begin(target: str) -> None:
    get(target).in_flight += 1


def end(
    target: str,
    policy: BreakerPolicy,
    *,
    ok: bool,
    counts: bool,
    latency_ms: float | None,
    probe: bool,
    now: float | None = None,
) -> str | None:
    """Record one call's outcome. `ok`: it succeeded; `counts`: a failure that says the target is unwell.
    Returns the breaker's new state when this call changed it ("open", "closed"), else None."""
    h = get(target)
    now = time.monotonic() if now is None else now
    h.in_flight = max(0, h.in_flight - 1)
    if probe:
        h.probing = False
    if not ok and not counts:
        return None  # a cancel or a refused request: no verdict on the target's health
    h.calls += 1
    sample = 0.0 if ok else 1.0
    h.error_rate = sample if h.calls == 1 else h.error_rate + EWMA_ALPHA * (sample - h.error_rate)
    if ok:
        if latency_ms is not None:
            h.ewma_latency_ms = (
                latency_ms
                if h.ewma_latency_ms is None
                else h.ewma_latency_ms + EWMA_ALPHA * (latency_ms - h.ewma_latency_ms)
            )
        if h.state != "closed" and probe:
            h.state, h.open_s = "closed", 0.0
            h.failures.clear()
            return "closed"
        return None
    h.errors += 1
    if not policy.enabled:
        return None
    if h.state == "half_open" and probe:
        current = h.open_s or float(policy.open_s or 0.0)
        h.open_s = min(current * 2, float(policy.open_cap_s or current * 2))
        return _open(h, now)
    failures = h.failures
    failures.append(now)
    horizon = now - policy.window_s  # type: ignore[operator]
    while failures and failures[0] < horizon:
        failures.popleft()
    if h.state == "closed" and len(failures) >= policy.failures:  # type: ignore[operator]
        h.open_s = policy.open_s  # type: ignore[assignment]
        return _open(h, now)
    return None


def _open(h: TargetHealth, now: float) -> str:
    h.state = "open"
    h.open_until = now + h.open_s
    h.opened += 1
    return "open"


def abandon(target: str, probe: bool) -> None:
    """A call that ended without a verdict (its run was torn down): free its in-flight slot and probe."""
    h = get(target)
    h.in_flight = max(0, h.in_flight - 1)
    if probe:
        h.probing = False
