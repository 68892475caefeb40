"""The engine's event stream (schema v3): the one contract between the engine and everything that consumes it.

The engine yields these; the TUI renders them, the store writes them, `workbench run --json` prints them (one
JSON object per line, via `Event.to_dict`, each with `schema_version: 2`). They are plain slotted dataclasses
(cheap to build: the engine makes one per streamed token, so they are not `frozen`, whose generated `__init__` is
several times slower; treat them as immutable all the same) and know nothing of any consumer.
`Event.from_dict` parses a line back; `workbench events schema` prints the JSON Schema of every type.

Every event has `type`, `run_id` and `ts` (wall-clock UNIX seconds, for display and storage; durations are
measured with a monotonic clock and given in milliseconds).

Hops form a tree: run -> step hop (`kind="step"`, or the step's own kind: `route`, `retrieve`, `gate`,
`parallel`, `transform`) -> attempt hops (`kind="attempt"`, one per call to a model: retries, fallbacks, hedges,
classifier and judge calls included). `parent_id` is the enclosing hop (None for a top-level step); parallel
children share their parent. Tokens and cost are carried only by the hops that spent them (attempts); every
other hop carries zeros, so the sum of `cost_usd` over *all* hops of a run equals the run's `cost_usd`, exactly.

An attempt's `attempt` is its try number on that target (1, then 2 for the first retry ...); `target_index` is
the target's 0-based place in the step's fallback chain.

Token figures on events: `input_tokens` is every prompt token processed (fresh + cache read + cache writes),
`output_tokens` every generated token (visible + reasoning). The normalized buckets travel in `usage`
(see `workbench.accounting.usage.Usage`), and `cost` holds the exact total as a decimal string, its breakdown and
the price entry's date — one shape on hops and on `run_finished`. `cost_usd` is the same figure as a JSON number
for convenience. `decision` events carry a human `reason` and structured `data` (rule matched, label and score,
threshold, breaker state, wait and where it came from ...).

Tool calls (v3): an attempt whose model called tools yields one `tool_call` event per call once its stream
ended whole (arguments checked to be a JSON object: otherwise the attempt fails `malformed`), before its
`hop_finished`, which carries the normalized `finish_reason` (`tool_calls` then). The answer text stays text:
a tool call is never part of `output`. Reasoning the model showed is counted (as reasoning tokens when usage is
estimated), never shown as answer. A content kind the adapter does not know becomes an `unsupported_content`
event on its attempt: reported, never dropped silently.

Schema changes are additive within a version: new optional fields may appear; existing ones keep their meaning.
v3 added the `tool_call` and `unsupported_content` events and `hop_finished.finish_reason`; v2 lines parse with
`Event.from_dict` and validate against the v3 schema (the fields v3 added are not required).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from workbench.errors import ErrorClass as ErrorClass
from workbench.providers.content import FinishReason  # the one taxonomy (re-exported: hops carry it)

SCHEMA_VERSION = 3
#: versions `Event.from_dict` reads (a v2 line parses: the fields v3 added have defaults)
READABLE_VERSIONS = (2, 3)
#: marks a field added in v3 (the JSON Schema does not require it, so v2 lines still validate)
V3 = {"since": 3}


class HopKind(StrEnum):
    STEP = "step"  # a generate step (encloses its attempts)
    ATTEMPT = "attempt"  # one call to one model
    ROUTE = "route"  # a routing step: its decision names the branch
    RETRIEVE = "retrieve"  # documents fetched from a local corpus
    GATE = "gate"  # a quality check on an earlier output
    PARALLEL = "parallel"  # a fan-out; its children share it as parent
    TRANSFORM = "transform"  # a template rendered into the context
    QUEUE = "queue"  # time spent waiting for an open breaker to close


class HopStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"  # a hedged attempt that lost the race (cancelled, its cost still counted)


class RunStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    CANCELLED = "cancelled"
    DEGRADED = "degraded"  # ended early (budget) with the best answer so far


class DecisionAction(StrEnum):
    ROUTE = "route"  # which route runs
    BRANCH = "branch"  # a routing step chose a branch
    FALLBACK = "fallback"  # next target after a failure
    RETRY = "retry"  # same target again after a wait
    SKIP = "skip"  # a target not tried (context window, open breaker, governance...)
    REFUSE = "refuse"  # a call refused by a cap or a rule
    STOP = "stop"  # a non-retryable failure ends the step
    CAP = "cap"  # a cost cap tripped mid-stream
    HEDGE = "hedge"  # a parallel attempt started because the first was slow
    BALANCE = "balance"  # the order of equivalent targets chosen
    BUDGET = "budget"  # a latency budget forced a move
    DEGRADE = "degrade"  # run ends degraded with the best answer so far
    QUEUE = "queue"  # waiting for a target to recover
    TRUNCATE = "truncate"  # history cut to fit the context window
    REDACT = "redact"  # PII masked before sending
    GATE = "gate"  # what a failed gate's policy did
    STREAM = "stream"  # mid-stream failure policy applied (restart or continue)
    PRICE = "price"  # no price in force for a target
    OVERLOAD = "overload"  # the client itself was overloaded (event-loop lag), not the provider
    MERGE = "merge"  # how a parallel step's results were merged
    GUARD = "guard"  # a step-count or depth guard stopped the run


class GateVerdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


def now() -> float:
    return time.time()


@dataclass(slots=True, kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    run_id: str
    ts: float = field(default_factory=now)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "schema_version": SCHEMA_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = float(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Parse one event object (as `to_dict` made it, or a line of `--json`) back into its dataclass."""
        kind = data.get("type")
        target = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
        if target is None:
            raise ValueError(f"unknown event type {kind!r} (known: {', '.join(EVENT_TYPES)})")
        names = {f.name for f in fields(target)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for name in _DECIMAL_FIELDS & kwargs.keys():
            # the exact figure is `cost.total` (decimal text); the JSON number beside it is a rounded float
            cost = kwargs.get("cost")
            exact = cost.get("total") if isinstance(cost, dict) else None
            kwargs[name] = Decimal(exact if isinstance(exact, str) else str(kwargs[name]))
        for name, enum in _ENUM_FIELDS.items():
            value = kwargs.get(name)
            if isinstance(value, str):
                kwargs[name] = enum(value)
        if isinstance(kwargs.get("status"), str):
            kwargs["status"] = (RunStatus if target is RunFinished else HopStatus)(kwargs["status"])
        return target(**kwargs)


@dataclass(slots=True, kw_only=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    route: str
    prompt: str
    profile: str = ""  # profile name
    profile_hash: str = ""  # sha256 of the profile file's text (the store keeps the text by this hash)
    profile_path: str = ""
    metadata: dict[str, str] | None = None  # request metadata (`--meta key=value`)
    session_id: str | None = None  # the conversation this run continues, if any
    turn: int = 1  # 1-based turn in that conversation


@dataclass(slots=True, kw_only=True)
class HopStarted(Event):
    type: ClassVar[str] = "hop_started"
    hop_id: str
    parent_id: str | None = None
    kind: HopKind = HopKind.ATTEMPT
    name: str = ""  # step name, or the model alias for an attempt
    provider: str | None = None
    model: str | None = None  # model alias in the profile
    model_id: str | None = None  # the provider's wire model id
    attempt: int = 0  # try number on this target (1 = first call, 2 = first retry); 0 for non-attempt hops
    target_index: int | None = None  # 0-based place of the target in the step's fallback chain
    role: str | None = None  # what the call is for: "answer", "classifier", "judge", "hedge", "child"


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
    action: DecisionAction
    reason: str  # in words a product manager understands
    target: str | None = None  # the model alias (or branch, or route) the decision points at
    data: dict[str, Any] | None = None  # structured: rule, label, score, threshold, wait_s, wait_source, state...


@dataclass(slots=True, kw_only=True)
class HopFinished(Event):
    type: ClassVar[str] = "hop_finished"
    hop_id: str
    parent_id: str | None = None
    kind: HopKind = HopKind.ATTEMPT
    name: str = ""
    provider: str | None = None
    model: str | None = None
    model_id: str | None = None
    attempt: int = 0
    target_index: int | None = None
    role: str | None = None
    status: HopStatus = HopStatus.OK
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    error: str | None = None  # human message
    error_class: ErrorClass | None = None
    retryable: bool | None = None
    retry_after_s: float | None = None  # the provider's Retry-After (any form), when it sent one
    reason: str | None = None  # why it ended the way it did (cap tripped, cancelled by user...)
    usage: dict[str, Any] | None = None  # Usage.to_dict()
    cost: dict[str, Any] | None = None  # Cost.to_dict(): exact total, breakdown, price entry
    price: dict[str, Any] | None = None  # the price entry used, as data (for re-pricing later)
    started_ts: float | None = None
    first_token_ts: float | None = None
    output: str | None = None  # text the hop produced (attempts; a step's final text)
    # gate hops: the check, its verdict, a score in [0, 1] where the check has one, and what it found
    check: str | None = None
    verdict: GateVerdict | None = None
    score: float | None = None
    detail: str | None = None
    data: dict[str, Any] | None = None  # kind-specific: retrieved documents, a route's label, merge result...
    #: attempts: the engine's own milliseconds in this hop (its wall time less the wait for the provider and
    #: less the caller's time with its events): the orchestration overhead, apart from the provider's time
    engine_ms: float | None = None
    #: attempts (v3): why the model's turn ended, normalized: stop, length, tool_calls, content_filter
    finish_reason: FinishReason | None = field(default=None, metadata=V3)


@dataclass(slots=True, kw_only=True)
class ToolCalled(Event):
    """A tool call the model made on an attempt, whole: `index` among the turn's calls, the provider's call id,
    the tool's name and its arguments as JSON text (an object). Nothing runs it yet: it is for the caller."""

    type: ClassVar[str] = "tool_call"
    hop_id: str
    index: int
    call_id: str
    name: str
    arguments: str


@dataclass(slots=True, kw_only=True)
class ContentUnsupported(Event):
    """A content block or delta of a kind the provider adapter does not know, received on an attempt (reported
    once per kind per attempt; its content is not in the answer)."""

    type: ClassVar[str] = "unsupported_content"
    hop_id: str
    content_kind: str  # as the wire names it, e.g. "content_block:server_tool_use" or "delta:audio"
    detail: str = ""  # the start of the block, for a human


@dataclass(slots=True, kw_only=True)
class Progress(Event):
    """Slow work inside a hop, as it goes: a `retrieve` step indexing its corpus, or waiting while another run or
    process indexes it. Sent only when the work lasts (after about 0.3 s), then about once a second, and once
    more (`phase: done`) when it is over; `phase: note` is a one-off remark (a damaged index cache was rebuilt).
    Nothing is stored from it: what matters for the record is in the hop's data."""

    type: ClassVar[str] = "progress"
    hop_id: str
    phase: str  # "indexing", "waiting" (for another run or process), "done", "note"
    done: int = 0  # units finished (files)
    total: int = 0  # units to do (0: not known)
    unit: str = "files"
    message: str = ""  # one line for a human: what, where, how far


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
    cost: dict[str, Any] | None = None  # the same shape as a hop's: {"total": exact decimal text, ...}
    error: str | None = None
    estimated: bool = False  # True when any hop's usage was estimated rather than reported
    reason: str | None = None  # why a run ended degraded, cancelled or in error, in words


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        HopStarted,
        FirstToken,
        Token,
        Decision,
        HopFinished,
        Progress,
        ToolCalled,
        ContentUnsupported,
        RunFinished,
    )
}
_DECIMAL_FIELDS = frozenset({"cost_usd"})
_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "kind": HopKind,
    "action": DecisionAction,
    "error_class": ErrorClass,
    "verdict": GateVerdict,
}


def cost_record(total: Decimal, breakdown: dict[str, Decimal] | None = None) -> dict[str, Any]:
    """The one shape of `cost` on events: exact decimal text, never a float."""
    return {
        "total": str(total),
        "breakdown": {k: str(v) for k, v in (breakdown or {}).items()},
        "price_effective": None,
        "tier": None,
    }
