"""The status line under the hop table: what the app is doing, and a finished run's totals."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from workbench.engine.events import RunFinished
from workbench.tui.fmt import ms as _ms
from workbench.tui.fmt import usd

_STATUS_STYLE = {"ok": "$success bold", "error": "$error bold", "cancelled": "$warning bold"}


class StatusLine(Static):
    """One line of run status; styles come from the theme's variables."""

    def show_idle(self, profile: str, routes: int, note: str = "ready") -> None:
        self.update(
            Content.assemble(
                (note, "$text-muted"),
                f" · profile {profile} · {routes} route{'s' if routes != 1 else ''}",
                (" · Enter sends", "$text-muted"),
            )
        )

    def show_running(self, route: str) -> None:
        self.update(
            Content.assemble(("running", "$accent bold"), f" · route {route} · ", ("Esc cancels", "$text-muted"))
        )

    def show_finished(self, route: str, run: RunFinished) -> None:
        parts: list[str | tuple[str, str]] = [
            (run.status, _STATUS_STYLE.get(run.status, "bold")),
            f" · route {route}",
            f" · latency {_ms(run.latency_ms)}",
            f" · TTFT {_ms(run.ttft_ms)}",
            f" · tokens {run.input_tokens:,} in / {run.output_tokens:,} out",
            f" · cost ${usd(run.cost_usd)}",
        ]
        if run.estimated:
            parts.append((" (estimated)", "$text-muted"))
        if run.error and run.status != "ok":
            parts.append((f" · {run.error}", "$text-error"))
        self.update(Content.assemble(*parts))

    def show_problem(self, outcome: str, route: str, message: str) -> None:
        self.update(
            Content.assemble(
                (outcome, _STATUS_STYLE.get(outcome, "bold")), f" · route {route} · ", (message, "$text-muted")
            )
        )
