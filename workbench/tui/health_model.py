"""Per-target health as the TUI sees it: folded from the engine events of every run this process made.

Until the engine offers a health snapshot of its own (breaker state included), this is the source: ok/error
counts, an EWMA of latency, requests in flight and the last error, per provider/model. `health_rows()` is the one
function the health panel reads, so swapping the source for the engine's `snapshot()` is a change here only.

One key per target: `provider/alias` (the profile's name for it). The engine's breaker book keys targets by
`provider/wire model id`; its rows are joined to the alias through the profile, so a target never shows twice.
A last error that a later success has followed is shown as such (`recovered`), never beside a healthy state as
if it were current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.engine.events import Event, HopFinished, HopStarted

ALPHA = 0.3  # EWMA weight of the newest latency


@dataclass(slots=True)
class TargetHealth:
    target: str
    ok: int = 0
    errors: int = 0
    in_flight: int = 0
    ewma_ms: float | None = None
    last_error: str = ""
    recovered: bool = False  # a call succeeded after `last_error`
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
        if isinstance(event, HopStarted) and event.kind == "attempt":
            name = f"{event.provider}/{event.model}"
            self._open[event.hop_id] = name
            target = self._target(name)
            target.in_flight += 1
            target.engine_key = f"{event.provider}/{event.model_id}"
        elif isinstance(event, HopFinished) and event.kind == "attempt":
            ev = event
            opened = self._open.pop(ev.hop_id, None)
            t = self._target(opened or f"{ev.provider}/{ev.model}")
            if opened is not None:
                t.in_flight = max(0, t.in_flight - 1)
            if ev.status == "ok":
                t.ok += 1
                t.recovered = bool(t.last_error)
                t.ewma_ms = ev.latency_ms if t.ewma_ms is None else ALPHA * ev.latency_ms + (1 - ALPHA) * t.ewma_ms
            elif ev.status == "skipped":
                t.skipped += 1
                t.last_error, t.recovered = ev.error or ev.reason or "skipped", False
            elif ev.status in ("error", "timeout"):
                t.errors += 1
                t.last_error, t.recovered = ev.error or ev.status, False
        # (a `skip` decision names the target by alias alone; its skipped hop, just after it, is counted above)


def health_rows(book: HealthBook, engine: Any = None, profile: Any = None) -> list[dict[str, Any]]:
    """The rows the health panel shows: the engine's breaker states (shared by every run in the process, see
    `workbench.engine.health`) joined with what this app saw (its last error per target, by profile alias).
    One row per target, keyed `provider/alias` (`profile` names the aliases of the engine's targets)."""
    from workbench.engine import health as engine_health

    snapshot = engine_health.snapshot()
    alias_of: dict[str, str] = {}
    for alias, model in profile.models.items() if profile is not None else ():
        alias_of.setdefault(f"{model.provider}/{model.model}", f"{model.provider}/{alias}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t in sorted(book.targets.values(), key=lambda t: t.target):
        key = t.engine_key or next((k for k, v in alias_of.items() if v == t.target), "")
        snap = snapshot.get(key) if key else None
        seen.update((key, t.target))
        row: dict[str, Any] = {
            "target": t.target,
            "state": t.state,
            "ewma_ms": t.ewma_ms,
            "error_rate": t.error_rate,
            "in_flight": t.in_flight,
            "ok": t.ok,
            "errors": t.errors,
            "last_error": t.last_error,
            "recovered": t.recovered,
        }
        if snap is not None:
            row.update(_from_engine(snap))
        rows.append(row)
    for name, snap in snapshot.items():  # targets this app's screens did not call (another run in the process)
        target = alias_of.get(name, name)
        if name not in seen and target not in seen:
            seen.add(target)
            rows.append({"target": target, "last_error": "", **_from_engine(snap)})
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
