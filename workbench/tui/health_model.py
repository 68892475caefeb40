"""Per-target health as the TUI sees it: folded from the engine events of every run this process made.

Until the engine offers a health snapshot of its own (breaker state included), this is the source: ok/error
counts, an EWMA of latency, requests in flight and the last error, per provider/model. `health_rows()` is the one
function the health panel reads, so swapping the source for the engine's `snapshot()` is a change here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.engine.events import Decision, Event, HopFinished, HopStarted

ALPHA = 0.3  # EWMA weight of the newest latency


@dataclass(slots=True)
class TargetHealth:
    target: str
    ok: int = 0
    errors: int = 0
    in_flight: int = 0
    ewma_ms: float | None = None
    last_error: str = ""
    skipped: int = 0  # attempts the engine did not make (breaker open, cap, governance)
    engine_key: str = ""  # the engine's health key for this target (provider/wire model id)

    @property
    def error_rate(self) -> float:
        done = self.ok + self.errors
        return self.errors / done if done else 0.0

    @property
    def state(self) -> str:
        """closed (healthy), degraded (some errors), failing (the last several failed); a guess until the
        engine reports breaker states itself."""
        if self.errors and self.ok == 0:
            return "failing"
        if self.error_rate > 0.2:
            return "degraded"
        return "closed"


class HealthBook:
    """Folds attempt events into per-target figures. Cheap: tokens are ignored."""

    def __init__(self) -> None:
        self.targets: dict[str, TargetHealth] = {}
        self._open: dict[str, str] = {}  # hop id -> target, for attempts in flight

    def _target(self, name: str) -> TargetHealth:
        t = self.targets.get(name)
        if t is None:
            t = self.targets[name] = TargetHealth(name)
        return t

    def observe(self, event: Event) -> None:
        kind = type(event)
        if kind is HopStarted and event.kind == "attempt":  # type: ignore[attr-defined]
            name = f"{event.provider}/{event.model}"  # type: ignore[attr-defined]
            self._open[event.hop_id] = name  # type: ignore[attr-defined]
            target = self._target(name)
            target.in_flight += 1
            target.engine_key = f"{event.provider}/{event.model_id}"  # type: ignore[attr-defined]
        elif kind is HopFinished and event.kind == "attempt":  # type: ignore[attr-defined]
            ev: HopFinished = event  # type: ignore[assignment]
            name = self._open.pop(ev.hop_id, None)
            t = self._target(name or f"{ev.provider}/{ev.model}")
            if name is not None:
                t.in_flight = max(0, t.in_flight - 1)
            if ev.status == "ok":
                t.ok += 1
                t.ewma_ms = ev.latency_ms if t.ewma_ms is None else ALPHA * ev.latency_ms + (1 - ALPHA) * t.ewma_ms
            elif ev.status == "skipped":
                t.skipped += 1
                t.last_error = ev.error or ev.reason or "skipped"
            elif ev.status in ("error", "timeout"):
                t.errors += 1
                t.last_error = ev.error or ev.status
        elif kind is Decision and event.action == "skip" and event.target:  # type: ignore[attr-defined]
            self._target(str(event.target)).last_error = event.reason  # type: ignore[attr-defined]


def health_rows(book: HealthBook, engine: Any = None) -> list[dict[str, Any]]:
    """The rows the health panel shows: the engine's breaker states (shared by every run in the process, see
    `workbench.engine.health`) joined with what this app saw (its last error per target, by profile alias)."""
    from workbench.engine import health as engine_health

    snapshot = engine_health.snapshot()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t in sorted(book.targets.values(), key=lambda t: t.target):
        snap = snapshot.get(t.engine_key) if t.engine_key else None
        seen.add(t.engine_key)
        row: dict[str, Any] = {
            "target": t.target,
            "state": t.state,
            "ewma_ms": t.ewma_ms,
            "error_rate": t.error_rate,
            "in_flight": t.in_flight,
            "ok": t.ok,
            "errors": t.errors,
            "last_error": t.last_error,
        }
        if snap is not None:
            row.update(_from_engine(snap))
        rows.append(row)
    for name, snap in snapshot.items():  # targets this app's screens did not call (another run in the process)
        if name not in seen:
            rows.append({"target": name, "last_error": "", **_from_engine(snap)})
    return rows


def _from_engine(snap: dict[str, Any]) -> dict[str, Any]:
    calls, errors = int(snap.get("calls", 0)), int(snap.get("errors", 0))
    return {
        "state": snap["state"],
        "open_for_s": snap.get("open_for_s"),
        "failures": snap.get("failures", 0),
        "ewma_ms": snap.get("ewma_latency_ms"),
        "error_rate": float(snap.get("error_rate", 0.0)),
        "in_flight": int(snap.get("in_flight", 0)),
        "ok": calls - errors,
        "errors": errors,
    }
