"""The health panel (ctrl+h from any screen): every target this process has talked to, refreshed twice a second.

Rows come from `workbench.tui.health_model.health_rows` — the one place that picks the source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable

from workbench.tui.health_model import health_rows

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

STATE_STYLE = {
    "closed": ("● closed", "green"),
    "degraded": ("◑ degraded", "yellow"),
    "failing": ("◐ failing", "red"),
    "open": ("◐ open", "red"),
    "half_open": ("◑ half-open: probing", "yellow"),
}


class HealthScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HealthScreen { align: center middle; }
    HealthScreen > DataTable { width: 100; max-width: 100%; height: auto; max-height: 80%; border: round $primary; background: $surface; }
    """
    BINDINGS = [Binding("escape,q,ctrl+h", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="health", cursor_type="row")
        table.border_title = "health · targets seen by this session"
        table.border_subtitle = "esc close"
        yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in ("target", "state", "latency", "errors", "in flight", "last error"):
            table.add_column(col, key=col)
        self.refresh_rows()
        self.set_interval(0.5, self.refresh_rows)

    def refresh_rows(self) -> None:
        app: WorkbenchApp = self.app  # type: ignore[assignment]
        rows = health_rows(app.health, app.engines.engine)
        table = self.query_one(DataTable)
        table.clear()
        if not rows:
            table.add_row(Text("no target called yet: send a prompt first", style="italic"), *([Text("")] * 5))
            return
        for r in rows:
            label, style = STATE_STYLE.get(str(r["state"]), (str(r["state"]), ""))
            if r["state"] == "open" and r.get("open_for_s") is not None:
                label = f"{label} {float(r['open_for_s']):.0f}s ({r.get('failures', 0)} failures)"
            ewma = r.get("ewma_ms")
            done = int(r.get("ok", 0)) + int(r.get("errors", 0))
            table.add_row(
                Text(str(r["target"])),
                Text(label, style=style),
                Text("—" if ewma is None else f"{ewma:,.0f} ms", justify="right"),
                Text(f"{r['error_rate']:.0%} of {done}", justify="right"),
                Text(str(r["in_flight"]), justify="right"),
                Text(str(r.get("last_error", ""))[:60]),
            )

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
