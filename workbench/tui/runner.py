"""Folds the engine's event stream into coalesced screen frames: the TUI side of the event contract.

The run worker calls `RunState.apply` for every event (one per streamed token, so it only appends to lists and
touches a dict); a timer on the app calls `RunState.take_frame` 15-20 times a second and applies what changed in
one go: the answer text appended since the last frame, and the hop rows whose cells changed. Nothing here imports
Textual, so the folding rules are tested without a screen.

Answer text rules: the answer shows what each step's successful attempt produced. Text streamed by an attempt
that then fails is dropped when the fallback starts over (the engine replays the prompt, it does not continue the
broken stream), so a reader never sees a duplicated prefix. Routes with several steps get a small heading per step.

Time rules (the waterfall): every row records when it started, got its first token and ended on the state's
own clock (`clock`, monotonic seconds; tests inject a ticking fake so frames are deterministic), relative to the
run's start, so all hops share one time axis. Tokens and cost of a streaming attempt are estimated live from the
text seen so far (chars / 4, priced with the model's price entry) and marked estimated until `hop_finished`
brings the provider's usage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from workbench.tui.sessions_model import RecordedEvent

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
    parent: str | None = None  # the enclosing hop's key (None: top level)
    model: str | None = None
    t_start: float | None = None  # seconds since the run started, on the state's clock
    t_first: float | None = None
    t_end: float | None = None
    chars: int = 0  # streamed characters (the live estimate's basis)
    # the hop's own events (started, finished, decisions); a saved run's rows hold its stored rows instead
    events: list[Event | RecordedEvent] = field(default_factory=list)


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

    def __init__(
        self,
        route: str,
        prompt: str,
        *,
        multi_step: bool = False,
        clock: Callable[[], float] = time.monotonic,
        price_of: Callable[[str], Any] | None = None,
        history: list[dict[str, str]] | None = None,
    ) -> None:
        self.route = route
        self.clock = clock
        self.price_of = price_of
        self.history = list(history or [])
        self.turn = 1 + len(self.history) // 2
        self.t0 = clock()
        self.first_token_at: float | None = None
        self.ended_at: float | None = None
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
        # isinstance on the event class (not `type(event) is`), so each branch sees its own event type's fields.
        if isinstance(event, Token):
            text = event.text
            row = self.rows.get(event.hop_id)
            if row is not None:
                row.chars += len(text)
                self._dirty[row.key] = None
            if event.hop_id == self._current_hop:
                self._current.append(text)
                self._pending.append(text)
        elif isinstance(event, FirstToken):
            row = self.rows.get(event.hop_id)
            now = self.clock() - self.t0
            if self.first_token_at is None:
                self.first_token_at = now
            if row is not None:
                row.ttft_ms = event.ttft_ms
                row.t_first = now
                row.status = "streaming"
                self._touch(row.key)
        elif isinstance(event, HopStarted):
            self._hop_started(event)
        elif isinstance(event, HopFinished):
            self._hop_finished(event)
        elif isinstance(event, Decision):
            self._decision(event)
        elif isinstance(event, RunStarted):
            self.run_id = event.run_id
        elif isinstance(event, RunFinished):
            self.finished = event
            self.ended_at = self.clock() - self.t0
            self._finished_pending = True
            shown = self._committed + "".join(self._current)
            output = event.output
            if output and (not shown.strip() or (not self.multi_step and shown.strip() != output.strip())):
                # A provider that did not stream, or a route whose answer is not one attempt's text (a parallel
                # step's merge, a transform): show the run's final output in one piece.
                self._set_answer(output)

    def _hop_started(self, event: HopStarted) -> None:
        if event.kind == "attempt":
            # A classifier's label or a judge's verdict is a hop to watch, not part of the answer.
            if event.role not in ("classifier", "judge"):
                self._current_hop = event.hop_id
                self._current = []
            label = f"  {event.name or event.model or '?'}" + (
                f" ({event.role})" if event.role in ("classifier", "judge") else ""
            )
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
            parent=event.parent_id,
            model=event.model,
            t_start=self.clock() - self.t0,
            events=[event],
        )
        self._touch(event.hop_id)

    def _hop_finished(self, event: HopFinished) -> None:
        row = self.rows.get(event.hop_id)
        if row is None:  # a hop that never started (e.g. an attempt skipped by a cost cap)
            label = f"  {event.name or event.model or '?'}" if event.kind == "attempt" else event.name or event.kind
            now = self.clock() - self.t0
            row = HopRow(
                key=event.hop_id,
                kind=event.kind,
                label=label,
                attempt=event.attempt or None,
                parent=event.parent_id,
                model=event.model,
                t_start=now,
            )
            self.rows[event.hop_id] = row
        row.events.append(event)
        row.t_end = self.clock() - self.t0
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
        now = self.clock() - self.t0
        parent = event.hop_id if event.hop_id in self.rows else None
        self.rows[key] = HopRow(
            key=key,
            kind="decision",
            label=label,
            detail=event.reason,
            parent=parent,
            t_start=now,
            t_end=now,
            status=str(event.action),
            events=[event],
        )
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

    # -- the waterfall and the totals (read 15-20 times a second by the frame timer) -----------------------
    def now(self) -> float:
        """Seconds on the run's time axis: the end of the run once it finished, else the clock."""
        if self.ended_at is not None:
            return self.ended_at
        # A clock may offer `peek` (a reading that does not advance it): frame reads then leave the times the
        # events are stamped with unchanged, so a test's fake clock gives the same picture however many frames ran.
        peek = getattr(self.clock, "peek", None)
        return (peek() if peek is not None else self.clock()) - self.t0

    def ordered_rows(self) -> list[tuple[int, HopRow]]:
        """Rows as a tree (depth, row): each hop followed by its children (attempts, decisions, parallel
        children) in the order they started."""
        children: dict[str | None, list[HopRow]] = {}
        for row in self.rows.values():
            parent = row.parent if row.parent in self.rows else None
            children.setdefault(parent, []).append(row)
        out: list[tuple[int, HopRow]] = []

        def walk(key: str | None, depth: int) -> None:
            for row in children.get(key, ()):
                out.append((depth, row))
                walk(row.key, depth + 1)

        walk(None, 0)
        return out

    def live_tokens(self, row: HopRow) -> tuple[int | None, int | None, Decimal | None, bool]:
        """(input, output, cost, estimated) of a row: exact once it finished, else estimated from what streamed."""
        if row.status not in ACTIVE or row.kind != "attempt":
            return row.input_tokens, row.output_tokens, row.cost_usd, row.estimated
        out_tokens = (row.chars + 3) // 4
        in_tokens = (len(self.prompt) + sum(len(m.get("content", "")) for m in self.history) + 3) // 4
        cost: Decimal | None = None
        price = self.price_of(row.model) if (self.price_of is not None and row.model) else None
        if price is not None:
            from workbench.accounting.usage import Usage, cost_of

            cost = cost_of(Usage(input_tokens=in_tokens, output_tokens=out_tokens), price).total
        return in_tokens, out_tokens, cost, True

    def totals(self) -> dict[str, Any]:
        """The run's figures as they stand: exact from run_finished once it came, else summed live."""
        fin = self.finished
        if fin is not None:
            return {
                "latency_ms": fin.latency_ms,
                "ttft_ms": fin.ttft_ms,
                "input_tokens": fin.input_tokens,
                "output_tokens": fin.output_tokens,
                "cost": fin.cost_usd,
                "estimated": fin.estimated,
                "status": str(fin.status),
            }
        tin = tout = 0
        cost = Decimal(0)
        estimated = False
        for row in self.rows.values():
            if row.kind != "attempt":
                continue
            i, o, c, est = self.live_tokens(row)
            tin += i or 0
            tout += o or 0
            cost += c or 0
            estimated = estimated or est
        return {
            "latency_ms": self.now() * 1000,
            "ttft_ms": None if self.first_token_at is None else self.first_token_at * 1000,
            "input_tokens": tin,
            "output_tokens": tout,
            "cost": cost,
            "estimated": estimated,
            "status": "cancelled" if self.cancelled else "running",
        }

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
