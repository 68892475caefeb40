"""The engine's event stream: the one contract between the engine and everything that consumes it.

The engine yields these; the TUI renders them, the store writes them, `workbench run --json` prints them (one
JSON object per line, via `Event.to_dict`). They are plain slotted dataclasses (cheap to build: the engine makes
one per streamed token, so they are not `frozen`, whose generated `__init__` is several times slower; treat them
as immutable all the same) and know nothing of any consumer.

Every event has `type`, `run_id` and `ts` (wall-clock UNIX seconds, for display and storage; durations are
measured with a monotonic clock and given in milliseconds).

Hops form a tree: run -> step hop (`kind="step"`) -> attempt hops (`kind="attempt"`, one per call to a model,
fallbacks included). `parent_id` is the enclosing hop (None for a step). Tokens and cost are carried only by the
hops that spent them (attempts); a step hop carries zeros, so the sum of `cost_usd` over *all* hops of a run
equals the run's `cost_usd`, exactly.

Token figures on events: `input_tokens` is every prompt token processed (fresh + cache read + cache writes),
`output_tokens` every generated token (visible + reasoning). The normalized buckets travel in `usage`
(see `workbench.accounting.usage.Usage`), and `cost` holds the exact Decimal total, its breakdown and the price
entry used. `cost_usd` is the same figure as a JSON number for convenience.

Schema changes are additive: new optional fields may appear; existing ones keep their meaning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, ClassVar, Literal

HopKind = Literal["step", "attempt", "decision", "retrieval", "gate"]
HopStatus = Literal["ok", "error", "timeout", "skipped", "cancelled"]
RunStatus = Literal["ok", "error", "cancelled"]

SCHEMA_VERSION = 1


def now() -> float:
    return time.time()


@dataclass(slots=True, kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    run_id: str
    ts: float = field(default_factory=now)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = float(value)
            out[f.name] = value
        return out


@dataclass(slots=True, kw_only=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    route: str
    prompt: str
    profile: str = ""  # profile name
    profile_hash: str = ""  # sha256 of the profile file's text (the store keeps the text by this hash)
    profile_path: str = ""
    schema_version: int = SCHEMA_VERSION


@dataclass(slots=True, kw_only=True)
class HopStarted(Event):
    type: ClassVar[str] = "hop_started"
    hop_id: str
    parent_id: str | None = None
    kind: HopKind = "attempt"
    name: str = ""  # step name, or the model alias for an attempt
    provider: str | None = None
    model: str | None = None  # model alias in the profile
    model_id: str | None = None  # the provider's wire model id
    attempt: int = 0  # 1-based index among the step's attempts; 0 for non-attempt hops


@dataclass(slots=True, kw_only=True)
class FirstToken(Event):
    type: ClassVar[str] = "first_token"
    hop_id: str
    ttft_ms: float


@dataclass(slots=True, kw_only=True)
class Token(Event):
    type: ClassVar[str] = "token"
    hop_id: str
    text: str


@dataclass(slots=True, kw_only=True)
class Decision(Event):
    """A choice the engine made and why: a route chosen, a fallback taken, a call refused by a cap."""

    type: ClassVar[str] = "decision"
    hop_id: str | None
    action: str  # "route" | "fallback" | "refuse" | "cap" | "retry" ...
    reason: str
    target: str | None = None  # the model alias the decision points at (next target for a fallback)


@dataclass(slots=True, kw_only=True)
class HopFinished(Event):
    type: ClassVar[str] = "hop_finished"
    hop_id: str
    parent_id: str | None = None
    kind: HopKind = "attempt"
    name: str = ""
    provider: str | None = None
    model: str | None = None
    model_id: str | None = None
    attempt: int = 0
    status: HopStatus = "ok"
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    error: str | None = None  # human message
    error_class: str | None = None  # ProviderError kind, e.g. "rate_limit", "server", "timeout"
    retryable: bool | None = None
    reason: str | None = None  # why it ended the way it did (cap tripped, cancelled by user...)
    usage: dict[str, Any] | None = None  # Usage.to_dict()
    cost: dict[str, Any] | None = None  # Cost.to_dict(): exact total, breakdown, price entry
    price: dict[str, Any] | None = None  # the price entry used, as data (for re-pricing later)
    started_ts: float | None = None
    first_token_ts: float | None = None
    output: str | None = None  # text the hop produced (attempts)


@dataclass(slots=True, kw_only=True)
class RunFinished(Event):
    type: ClassVar[str] = "run_finished"
    status: RunStatus
    output: str
    latency_ms: float
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    cost: str = "0"  # exact Decimal total as text
    error: str | None = None
    estimated: bool = False  # True when any hop's usage was estimated rather than reported


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (RunStarted, HopStarted, FirstToken, Token, Decision, HopFinished, RunFinished)
}
