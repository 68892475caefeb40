"""A hop's detail (modal): what the engine reported about it, in full — timings, usage buckets, the price entry,
the error, the decision data. Secrets never reach events, and any key-like field is shown as `***` regardless."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.tui.runner import HopRow

SECRET_HINTS = ("key", "token", "secret", "authorization", "password")


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "***" if any(h in k.lower() for h in SECRET_HINTS) and "tokens" not in k.lower() else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def describe(row: HopRow) -> str:
    """The hop's events as readable JSON, tokens excluded (they are the answer)."""
    parts = []
    for event in row.events:
        if event.type == "hop_finished" and getattr(event, "engine_ms", None) is not None:
            ttft = "" if event.ttft_ms is None else f" · first token {event.ttft_ms:,.0f} ms"
            parts.append(
                f"{event.latency_ms:,.0f} ms{ttft} · engine's own {event.engine_ms:.2f} ms"
                " (the rest: the provider, the network and this screen)"
            )
    for event in row.events:
        data = event.to_dict()
        data.pop("output", None) if data.get("type") == "hop_finished" and len(str(data.get("output"))) > 400 else None
        parts.append(json.dumps(redact(data), indent=2, default=str, ensure_ascii=False))
    return "\n".join(parts) or "(no events recorded for this row)"


class HopDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HopDetailScreen { align: center middle; }
    HopDetailScreen > VerticalScroll { width: 90%; height: 85%; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, row: HopRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = f"{self.row.kind} · {self.row.label.strip()} · {self.row.status}"
            scroll.border_subtitle = "esc close"
            yield Static(describe(self.row), markup=False, id="hop-detail")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
