"""From events to rows: assemble one run's events into the rows the store writes when the run finishes.

Pure Python, no SQL (the writer thread, `save_events` and the benchmark share it). A run is buffered from
`run_started` to `run_finished` and only then becomes rows, so the database only ever sees complete runs.

Totals are recomputed from the hops rather than copied from `run_finished`: a run's `cost_exact` is the exact
Decimal sum of its hops' `cost_exact` (and `cost_usd` its float), its token totals the sums over its attempt
hops. When the engine's own totals disagree, the run is still saved and a notice says so.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from workbench.accounting.money import as_decimal
from workbench.engine.events import (
    SCHEMA_VERSION,
    Decision,
    Event,
    FirstToken,
    HopFinished,
    HopStarted,
    RunFinished,
    RunStarted,
    Token,
)

# Column order of the rows the writer inserts (tests check these match the migrated schema).
PROFILE_COLUMNS = ("sha256", "text", "path", "first_seen_ts")
SESSION_COLUMNS = ("name", "created_ts", "created_at", "notes", "profile_hash")
RUN_COLUMNS = (
    "id",
    "session",
    "route",
    "profile",
    "profile_hash",
    "profile_path",
    "prompt",
    "output",
    "status",
    "error",
    "started_at",
    "started_ts",
    "ended_ts",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cost_exact",
    "estimated",
    "hop_count",
    "event_schema",
    "metadata",
    "session_turn",
    "reason",
)
HOP_COLUMNS = (
    "run_id",
    "hop_id",
    "parent_id",
    "seq",
    "kind",
    "name",
    "provider",
    "model",
    "model_id",
    "attempt",
    "status",
    "error_class",
    "error",
    "retryable",
    "reason",
    "started_ts",
    "first_token_ts",
    "ended_ts",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "usage_input",
    "usage_cache_read",
    "usage_cache_write_5m",
    "usage_cache_write_1h",
    "usage_output",
    "usage_reasoning",
    "usage_input_source",
    "usage_output_source",
    "estimated_input_tokens",
    "estimated_output_tokens",
    "cost_usd",
    "cost_exact",
    "cost_detail",
    "price",
    "output",
    "target_index",
    "role",
    "retry_after_s",
    "check_name",
    "verdict",
    "score",
    "detail",
    "data",
    "engine_ms",
)
MESSAGE_COLUMNS = ("run_id", "seq", "role", "content", "hop_id")
DECISION_COLUMNS = ("run_id", "seq", "hop_id", "action", "reason", "target", "ts", "data")

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "profiles": PROFILE_COLUMNS,
    "sessions": SESSION_COLUMNS,
    "runs": RUN_COLUMNS,
    "hops": HOP_COLUMNS,
    "messages": MESSAGE_COLUMNS,
    "decisions": DECISION_COLUMNS,
}
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "profiles": ("sha256",),
    "sessions": ("name",),
    "runs": ("id",),
    "hops": ("run_id", "hop_id"),
    "messages": ("run_id", "seq"),
    "decisions": ("run_id", "seq"),
}

_USAGE_BUCKETS = (
    ("usage_input", "input_tokens"),
    ("usage_cache_read", "cache_read_tokens"),
    ("usage_cache_write_5m", "cache_write_5m_tokens"),
    ("usage_cache_write_1h", "cache_write_1h_tokens"),
    ("usage_output", "output_tokens"),
    ("usage_reasoning", "reasoning_tokens"),
    ("usage_input_source", "input_source"),
    ("usage_output_source", "output_source"),
    ("estimated_input_tokens", "estimated_input_tokens"),
    ("estimated_output_tokens", "estimated_output_tokens"),
)
ZERO = Decimal(0)


def iso_utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(slots=True)
class RunRecord:
    """One finished run as rows, ready to insert (dicts keyed by column name)."""

    run: dict[str, Any]
    hops: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    notices: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.run["id"])


def _drop_copied_step_outputs(hops: list[dict[str, Any]]) -> None:
    """A step's output is, by construction, the output of its successful attempt: keep the text once (on the
    attempt). A step whose output differs from every child's keeps its own."""
    served = {(h["parent_id"], h["output"]) for h in hops if h["status"] == "ok" and h["parent_id"] and h["output"]}
    for h in hops:
        if h["kind"] == "step" and h["output"] and (h["hop_id"], h["output"]) in served:
            h["output"] = None


class _Hop:
    __slots__ = ("seq", "started", "finished", "first_token_ts", "ttft_ms", "parts")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.started: HopStarted | None = None
        self.finished: HopFinished | None = None
        self.first_token_ts: float | None = None
        self.ttft_ms: float | None = None
        self.parts: list[str] = []


class RunAssembler:
    """Collects one run's events; `finish()` turns them into a RunRecord."""

    __slots__ = ("started", "session", "hops", "decisions", "notices")

    def __init__(self, started: RunStarted, session: str) -> None:
        self.started = started
        self.session = session
        self.hops: dict[str, _Hop] = {}
        self.decisions: list[Decision] = []
        self.notices: list[str] = []

    def _hop(self, hop_id: str) -> _Hop:
        hop = self.hops.get(hop_id)
        if hop is None:
            hop = self.hops[hop_id] = _Hop(len(self.hops))
        return hop

    def add(self, event: Event) -> None:
        if type(event) is Token:
            self._hop(event.hop_id).parts.append(event.text)
        elif type(event) is HopStarted:
            self._hop(event.hop_id).started = event
        elif type(event) is HopFinished:
            self._hop(event.hop_id).finished = event
        elif type(event) is FirstToken:
            hop = self._hop(event.hop_id)
            hop.first_token_ts, hop.ttft_ms = event.ts, event.ttft_ms
        elif type(event) is Decision:
            self.decisions.append(event)
        # other (future) event types carry nothing the store keeps

    def finish(self, end: RunFinished) -> RunRecord:
        run_id = self.started.run_id
        hops = [self._hop_row(run_id, hop_id, hop, end) for hop_id, hop in self.hops.items()]
        _drop_copied_step_outputs(hops)
        total = sum((Decimal(h["cost_exact"]) for h in hops), ZERO)
        attempts = [h for h in hops if h["kind"] == "attempt"]
        input_tokens = sum(h["input_tokens"] for h in attempts)
        output_tokens = sum(h["output_tokens"] for h in attempts)
        self._check_totals(end, total, input_tokens, output_tokens)
        s = self.started
        run = {
            "id": run_id,
            "session": self.session,
            "route": s.route,
            "profile": s.profile or None,
            "profile_hash": s.profile_hash or None,
            "profile_path": s.profile_path or None,
            "prompt": s.prompt,
            "output": end.output,
            "status": end.status,
            "error": end.error,
            "started_at": iso_utc(s.ts),
            "started_ts": s.ts,
            "ended_ts": end.ts,
            "latency_ms": end.latency_ms,
            "ttft_ms": end.ttft_ms,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": float(total),
            "cost_exact": str(total),
            "estimated": int(bool(end.estimated)),
            "hop_count": len(hops),
            "event_schema": SCHEMA_VERSION,
            "metadata": to_json(s.metadata) if s.metadata else None,
            "session_turn": s.turn,
            "reason": end.reason,
        }
        messages = [{"run_id": run_id, "seq": 0, "role": "user", "content": s.prompt, "hop_id": None}]
        for h in attempts:
            if h["status"] == "ok" and h["output"]:
                messages.append(
                    {
                        "run_id": run_id,
                        "seq": len(messages),
                        "role": "assistant",
                        "content": h["output"],
                        "hop_id": h["hop_id"],
                    }
                )
        if len(messages) == 1 and end.output:
            messages.append({"run_id": run_id, "seq": 1, "role": "assistant", "content": end.output, "hop_id": None})
        decisions = [
            {
                "run_id": run_id,
                "seq": i,
                "hop_id": d.hop_id,
                "action": d.action,
                "reason": d.reason,
                "target": d.target,
                "ts": d.ts,
                "data": to_json(d.data) if d.data else None,
            }
            for i, d in enumerate(self.decisions)
        ]
        return RunRecord(run, hops, messages, decisions, self.notices)

    def _check_totals(self, end: RunFinished, total: Decimal, tokens_in: int, tokens_out: int) -> None:
        try:
            exact = end.cost.get("total") if isinstance(end.cost, dict) else end.cost
            reported = Decimal(str(exact))
        except (InvalidOperation, TypeError, ValueError):
            reported = as_decimal(end.cost_usd)
        if reported != total:
            self.notices.append(
                f"run {end.run_id}: run_finished says cost {reported}, its hops sum to {total}"
                " (the hops' sum was saved)"
            )
        if (end.input_tokens, end.output_tokens) != (tokens_in, tokens_out):
            self.notices.append(
                f"run {end.run_id}: run_finished says tokens {end.input_tokens}/{end.output_tokens},"
                f" its attempt hops sum to {tokens_in}/{tokens_out} (the hops' sums were saved)"
            )

    def _hop_row(self, run_id: str, hop_id: str, hop: _Hop, end: RunFinished) -> dict[str, Any]:
        f, s = hop.finished, hop.started
        head: HopStarted | HopFinished | None = f if f is not None else s
        row: dict[str, Any] = {
            "run_id": run_id,
            "hop_id": hop_id,
            "seq": hop.seq,
            "parent_id": head.parent_id if head else None,
            "kind": head.kind if head else "attempt",
            "name": head.name if head else "",
            "provider": head.provider if head else None,
            "model": head.model if head else None,
            "model_id": head.model_id if head else None,
            "attempt": head.attempt if head else 0,
            "target_index": head.target_index if head else None,
            "role": head.role if head else None,
            "retry_after_s": None,
            "check_name": None,
            "verdict": None,
            "score": None,
            "detail": None,
            "data": None,
            "engine_ms": None,
        }
        if f is None:
            # The run ended without this hop reporting its end (a crash or cancel inside the engine).
            started_ts = s.ts if s is not None else end.ts
            row.update(
                status="cancelled",
                error_class=None,
                error=None,
                retryable=None,
                reason="the run finished before this hop reported its end",
                started_ts=started_ts,
                first_token_ts=hop.first_token_ts,
                ended_ts=end.ts,
                latency_ms=max(0.0, (end.ts - started_ts) * 1000.0),
                ttft_ms=hop.ttft_ms,
                input_tokens=0,
                output_tokens=0,
                cost_usd=0.0,
                cost_exact="0",
                cost_detail=None,
                price=None,
                output="".join(hop.parts) or None,
            )
            row.update({col: None for col, _ in _USAGE_BUCKETS})
            return row
        cost_exact = self._hop_cost(f)
        usage = f.usage or {}
        row.update(
            status=f.status,
            error_class=f.error_class,
            error=f.error,
            retryable=None if f.retryable is None else int(f.retryable),
            reason=f.reason,
            started_ts=f.started_ts if f.started_ts is not None else (s.ts if s is not None else None),
            first_token_ts=f.first_token_ts if f.first_token_ts is not None else hop.first_token_ts,
            ended_ts=f.ts,
            latency_ms=f.latency_ms,
            ttft_ms=f.ttft_ms if f.ttft_ms is not None else hop.ttft_ms,
            input_tokens=f.input_tokens,
            output_tokens=f.output_tokens,
            cost_usd=float(cost_exact),
            cost_exact=str(cost_exact),
            cost_detail=to_json(f.cost),
            price=to_json(f.price),
            output=f.output if f.output is not None else ("".join(hop.parts) or None),
            retry_after_s=f.retry_after_s,
            check_name=f.check,
            verdict=f.verdict,
            score=f.score,
            detail=f.detail,
            data=to_json(f.data) if f.data else None,
            engine_ms=f.engine_ms,
        )
        for col, key in _USAGE_BUCKETS:
            row[col] = usage.get(key)
        return row

    def _hop_cost(self, f: HopFinished) -> Decimal:
        if f.cost and f.cost.get("total") is not None:
            try:
                exact = Decimal(str(f.cost["total"]))
            except (InvalidOperation, ValueError):
                exact = None
            if exact is not None:
                if exact != as_decimal(f.cost_usd):
                    self.notices.append(
                        f"hop {f.hop_id}: cost.total {exact} differs from cost_usd {f.cost_usd} (cost.total was saved)"
                    )
                return exact
        return as_decimal(f.cost_usd)
