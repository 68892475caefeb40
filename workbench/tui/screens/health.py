"""The health panel (ctrl+h from any screen): every target this process has talked to, refreshed twice a second.

Rows come from `workbench.tui.health_model.health_rows` — the one place that picks the source."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable

from workbench.tui.health_model import health_rows
from workbench.tui.host import workbench_app

STATE_STYLE = {
    "closed": ("● closed", "green"),
    "degraded": ("◑ degraded", "yellow"),
    "failing": ("◐ failing", "red"),
    "open": ("◐ open", "red"),
    "half_open": ("◑ half-open: probing", "yellow"),
}


COLUMNS = ("target", "state", "latency", "errors", "in flight", "last error")
EMPTY = "(none)"  # the row key of the "nothing called yet" line


def row_cells(r: dict[str, Any]) -> list[Text]:
    """A target's cells. The last error is shown as past (`recovered:`) once a later call succeeded, so that it
    never reads as the cause of a state that is healthy again."""
    label, style = STATE_STYLE.get(str(r["state"]), (str(r["state"]), ""))
    if r["state"] == "open" and r.get("open_for_s") is not None:
        label = f"{label} {float(r['open_for_s']):.0f}s ({r.get('failures', 0)} failures)"
    ewma = r.get("ewma_ms")
    done = int(r.get("ok", 0)) + int(r.get("errors", 0))
    error = str(r.get("last_error", ""))[:60]
    recovered = bool(error) and bool(r.get("recovered"))
    return [
        Text(str(r["target"])),
        Text(label, style=style),
        Text("—" if ewma is None else f"{ewma:,.0f} ms", justify="right"),
        Text(f"{r['error_rate']:.0%} of {done}", justify="right"),
        Text(str(r["in_flight"]), justify="right"),
        Text(f"recovered: {error}", style="dim") if recovered else Text(error),
    ]


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
        for col in COLUMNS:
            table.add_column(col, key=col)
        self.refreshes = 0  # how many times the figures were refreshed (tests wait on it)
        self.refresh_rows()
        self.set_interval(0.5, self.refresh_rows)

    def refresh_rows(self) -> None:
        """Bring the figures up to date in place: a row per target (its key), cells changed one by one, so the
        cursor and the scroll position stay where the reader put them."""
        app = workbench_app(self.app)
        rows = health_rows(app.health, app.engines.engine, app.profile)
        table = self.query_one(DataTable)
        wanted = {str(r["target"]): row_cells(r) for r in rows}
        if not wanted:
            wanted = {EMPTY: [Text("no target called yet: send a prompt first", style="italic"), *([Text("")] * 5)]}
        for row_key in [k for k in table.rows if k.value not in wanted]:
            table.remove_row(row_key)
        for key, cells in wanted.items():
            if key not in table.rows:
                table.add_row(*cells, key=key)
                continue
            for col, cell in zip(COLUMNS, cells, strict=True):
                if table.get_cell(key, col) != cell:
                    table.update_cell(key, col, cell)
        self.refreshes += 1

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
