"""The totals line: what the app is doing and the run's latency, TTFT, tokens and cost, live while it streams."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import Static

from workbench.tui.fmt import ms as _ms
from workbench.tui.fmt import usd

_STATUS_STYLE = {
    "ok": "$success bold",
    "error": "$error bold",
    "cancelled": "$warning bold",
    "degraded": "$warning bold",
    "running": "$accent bold",
}


class StatusLine(Static):
    """One line of run status; styles come from the theme's variables.

    Its height is fixed (one line), so updates repaint without a layout (`Static.update` lays out the whole screen
    by default, and the totals change every frame while a run streams)."""

    def update(self, content: Any = "", *, layout: bool = False) -> None:
        super().update(content, layout=layout)

    def show_idle(self, profile: str, routes: int, note: str = "ready") -> None:
        self.update(
            Content.assemble(
                (note, "$text-muted"),
                f" · profile {profile} · {routes} route{'s' if routes != 1 else ''}",
                (" · ctrl+s sends", "$text-muted"),
            )
        )

    def show_totals(self, route: str, totals: dict[str, Any], *, turn: int = 1, error: str | None = None) -> None:
        status = str(totals["status"])
        tilde = "~" if totals.get("estimated") else ""
        parts: list[str | tuple[str, str]] = [
            ("● " + status + "\u00a0\u00a0", _STATUS_STYLE.get(status, "bold")),
            f"{_ms(totals['latency_ms'])} · TTFT {_ms(totals['ttft_ms'])}",
            f" · {totals['input_tokens']:,} in / {tilde}{totals['output_tokens']:,} out",
            f" · {tilde}${usd(totals['cost'])}",
            (f" · {route} · turn {turn}", "$text-muted"),
        ]
        if error and status != "ok":
            parts.append((f" · {error}", "$text-error"))
        self.update(Content.assemble(*parts))

    def show_problem(self, outcome: str, route: str, message: str) -> None:
        self.update(
            Content.assemble(
                (outcome, _STATUS_STYLE.get(outcome, "bold")), f" · route {route} · ", (message, "$text-muted")
            )
        )
