"""Folds the engine's event stream into coalesced screen frames: the TUI side of the event contract.

The run worker calls `RunState.apply` for every event (one per streamed token, so it only appends to lists and
touches a dict); a timer on the app calls `RunState.take_frame` 15-20 times a second and applies what changed in
one go: the answer text appended since the last frame, and the hop rows whose cells changed. Nothing here imports
Textual, so the folding rules are tested without a screen.

Answer text rules: the answer shows what each step's successful attempt produced. Text streamed by an attempt
that then fails is dropped when the fallback starts over (the engine replays the prompt, it does not continue the
broken stream), so a reader never sees a duplicated prefix. Routes with several steps get a small heading per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from workbench.engine.events import (
    Decision,
    Event,
    FirstToken,
    HopFinished,
    HopStarted,
    RunFinished,
    RunStarted,
    Token,
)

ACTIVE = ("running", "streaming")


@dataclass(slots=True)
class HopRow:
    """One line of the hop table: a step, an attempt at a model, or a decision the engine made."""

    key: str
    kind: str
    label: str
    attempt: int | None = None
    status: str = ""
    latency_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: Decimal | None = None
    estimated: bool = False  # the cost rests on the tokenizer's estimate, not the provider's usage
    detail: str = ""


@dataclass(slots=True, frozen=True)
class Note:
    """A line for the notes under the hop table: why a decision was made, why a hop did not end ok."""

    level: str  # "decision" | "error" | "warning"
    text: str


@dataclass(slots=True)
class RunFrame:
    """What changed since the previous frame. `reset` (when not None) replaces the whole answer before `append`."""

    append: str = ""
    reset: str | None = None
    rows: list[HopRow] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    finished: RunFinished | None = None

    def __bool__(self) -> bool:
        return bool(self.append or self.reset is not None or self.rows or self.notes or self.finished)


class RunState:
    """The state of one run as the screen sees it, built from events; hands out frames of what changed."""

    def __init__(self, route: str, prompt: str, *, multi_step: bool = False) -> None:
        self.route = route
        self.prompt = prompt
        self.multi_step = multi_step
        self.run_id: str | None = None
        self.rows: dict[str, HopRow] = {}
        self.finished: RunFinished | None = None
        self.cancelled = False
        self._committed = ""  # answer text of finished steps (and headings)
        self._current_hop: str | None = None  # the attempt whose tokens are being shown
        self._current: list[str] = []  # its text so far
        self._pending: list[str] = []  # text not yet handed out in a frame
        self._reset: str | None = None
        self._dirty: dict[str, None] = {}  # row keys changed since the last frame, in first-change order
        self._notes: list[Note] = []
        self._decisions = 0
        self._finished_pending = False

    # -- folding events (called once per event, on the hot path) -------------------------------------------
    def apply(self, event: Event) -> None:
        kind = type(event)
        if kind is Token:
            if event.hop_id == self._current_hop:  # type: ignore[attr-defined]
                self._current.append(event.text)  # type: ignore[attr-defined]
                self._pending.append(event.text)  # type: ignore[attr-defined]
        elif kind is FirstToken:
            row = self.rows.get(event.hop_id)  # type: ignore[attr-defined]
            if row is not None:
                row.ttft_ms = event.ttft_ms  # type: ignore[attr-defined]
                row.status = "streaming"
                self._touch(row.key)
        elif kind is HopStarted:
            self._hop_started(event)  # type: ignore[arg-type]
        elif kind is HopFinished:
            self._hop_finished(event)  # type: ignore[arg-type]
        elif kind is Decision:
            self._decision(event)  # type: ignore[arg-type]
        elif kind is RunStarted:
            self.run_id = event.run_id
        elif kind is RunFinished:
            self.finished = event  # type: ignore[assignment]
            self._finished_pending = True
            shown = self._committed + "".join(self._current)
            if not shown.strip() and event.output:  # type: ignore[attr-defined]
                # A provider that did not stream: show the run's final output in one piece.
                self._set_answer(event.output)  # type: ignore[attr-defined]

    def _hop_started(self, event: HopStarted) -> None:
        if event.kind == "attempt":
            self._current_hop = event.hop_id
            self._current = []
            label = f"  {event.name or event.model or '?'}"
        else:
            label = event.name or event.kind
            if event.kind == "step" and self.multi_step:
                heading = f"\n\n**`{event.name}`**\n\n" if self._committed else f"**`{event.name}`**\n\n"
                self._committed += heading
                self._pending.append(heading)
        self.rows[event.hop_id] = HopRow(
            key=event.hop_id,
            kind=event.kind,
            label=label,
            attempt=(event.target_index + 1) if event.target_index is not None else (event.attempt or None),
            status="running",
        )
        self._touch(event.hop_id)

    def _hop_finished(self, event: HopFinished) -> None:
        row = self.rows.get(event.hop_id)
        if row is None:  # a hop that never started (e.g. an attempt skipped by a cost cap)
            label = f"  {event.name or event.model or '?'}" if event.kind == "attempt" else event.name or event.kind
            row = HopRow(key=event.hop_id, kind=event.kind, label=label, attempt=event.attempt or None)
            self.rows[event.hop_id] = row
        row.status = event.status
        row.latency_ms = event.latency_ms
        if event.ttft_ms is not None:
            row.ttft_ms = event.ttft_ms
        if event.kind != "step":  # steps carry zeros by contract; their attempts hold the spend
            row.input_tokens = event.input_tokens
            row.output_tokens = event.output_tokens
            row.cost_usd = event.cost_usd
            usage = event.usage or {}
            row.estimated = bool(event.input_tokens or event.output_tokens) and (
                usage.get("input_source") == "estimated" or usage.get("output_source") == "estimated"
            )
        row.detail = event.error or event.reason or ""
        self._touch(row.key)
        if event.status != "ok" and row.detail and event.kind != "step":  # a step's error repeats its last attempt's
            where = event.name or event.kind
            if event.kind == "attempt":
                where = f"{where} (attempt {event.attempt})"
            level = "warning" if event.status in ("skipped", "cancelled") else "error"
            self._notes.append(Note(level, f"{where} {event.status}: {row.detail}"))
        if event.kind == "attempt" and event.hop_id == self._current_hop:
            if event.status == "ok":
                self._committed += "".join(self._current)
            elif self._current:
                # Drop the failed attempt's partial text: the next attempt starts the answer over.
                self._set_answer(self._committed)
            self._current_hop = None
            self._current = []

    def _decision(self, event: Decision) -> None:
        self._decisions += 1
        key = f"decision-{self._decisions}"
        label = event.action if not event.target else f"{event.action} → {event.target}"
        self.rows[key] = HopRow(key=key, kind="decision", label=label, detail=event.reason)
        self._touch(key)
        self._notes.append(Note("decision", f"{label}: {event.reason}"))

    def _touch(self, key: str) -> None:
        self._dirty[key] = None

    def _set_answer(self, text: str) -> None:
        self._reset = text
        self._pending.clear()

    # -- ending ----------------------------------------------------------------------------------------------
    def mark_cancelled(self, reason: str = "cancelled by user") -> None:
        """The run's task was cancelled before the engine could report: close what is still open."""
        self.cancelled = True
        for row in self.rows.values():
            if row.status in ACTIVE:
                row.status = "cancelled"
                row.detail = row.detail or reason
                self._touch(row.key)
                if row.kind == "attempt":
                    self._notes.append(
                        Note("warning", f"{row.label.strip()} (attempt {row.attempt}) cancelled: {reason}")
                    )

    @property
    def answer(self) -> str:
        """The answer text as it stands (finished steps plus the attempt streaming now)."""
        return self._committed + "".join(self._current)

    # -- frames ----------------------------------------------------------------------------------------------
    def take_frame(self) -> RunFrame:
        """Everything that changed since the previous call (an empty, falsy frame when nothing did)."""
        frame = RunFrame(
            append="".join(self._pending),
            reset=self._reset,
            rows=[self.rows[key] for key in self._dirty],
            notes=list(self._notes),
            finished=self.finished if self._finished_pending else None,
        )
        self._pending.clear()
        self._reset = None
        self._dirty.clear()
        self._notes.clear()
        self._finished_pending = False
        return frame
