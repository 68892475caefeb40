"""The hop table: one row per hop (steps, attempts, decisions), updated in place as events arrive.

Rows are keyed by hop id, so a hop's `hop_started` adds its row and later events only `update_cell` the cells
that changed. The table holds figures; the reasons (decision reasons, error messages) are long, so they go to the
notes under it (`NotesLog`), where they wrap instead of widening the table. Text that came from outside (model
names) is passed as `rich.text.Text`, never as markup, so brackets in a name cannot break the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from workbench.tui.fmt import usd
from workbench.tui.runner import HopRow

# (key, header, width): fixed widths for the figures so the table does not jump while rows update.
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("kind", "kind", 8),
    ("label", "step / model", 24),
    ("attempt", "#", 2),
    ("status", "status", 9),
    ("latency", "latency ms", 10),
    ("ttft", "TTFT ms", 8),
    ("tokens_in", "tokens in", 9),
    ("tokens_out", "tokens out", 10),
    ("cost", "cost $", 10),
)

# status -> theme variable giving its colour
_STATUS_VARIABLE = {
    "ok": "text-success",
    "error": "text-error",
    "timeout": "text-error",
    "skipped": "text-warning",
    "cancelled": "text-warning",
    "running": "text-accent",
    "streaming": "text-accent",
}


def _number(value: float | int | None, fmt: str = ",.0f") -> Text:
    return Text("" if value is None else format(value, fmt), justify="right")


def _cost(value: Decimal | None, estimated: bool = False) -> Text:
    """Money; "~" marks a figure estimated with the tokenizer (the provider reported no usage for it)."""
    if value is None:
        return Text("", justify="right")
    return Text(("~" if estimated else "") + usd(value), justify="right")


class HopTable(DataTable[Text]):
    """Hops of the current run."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._styles: dict[str, str] = {}

    def on_focus(self) -> None:
        self.show_cursor = True

    def on_blur(self) -> None:
        self.show_cursor = False  # unfocused, a highlighted first row would read as "this hop is special"

    def on_mount(self) -> None:
        self.show_cursor = False
        for key, header, width in COLUMNS:
            self.add_column(header, key=key, width=width)
        self._load_styles()
        self.watch(self.app, "theme", lambda _theme: self._load_styles(), init=False)

    def _load_styles(self) -> None:
        variables = self.app.get_css_variables()
        self._styles = {status: variables.get(var, "") for status, var in _STATUS_VARIABLE.items()}
        self._styles["decision"] = variables.get("text-primary", "")
        for row_key in list(self.rows):
            self.update_cell(row_key, "status", self._status_text(self.get_cell(row_key, "status").plain))

    def _status_text(self, status: str) -> Text:
        return Text(status, style=self._styles.get(status, ""))

    def _cells(self, row: HopRow) -> dict[str, Text]:
        is_decision = row.kind == "decision"
        return {
            "kind": Text(row.kind, style=self._styles["decision"] if is_decision else ""),
            "label": Text(row.label, style="italic" if is_decision else ""),
            "attempt": _number(row.attempt, "d"),
            "status": self._status_text(row.status),
            "latency": _number(row.latency_ms),
            "ttft": _number(row.ttft_ms),
            "tokens_in": _number(row.input_tokens),
            "tokens_out": _number(row.output_tokens),
            "cost": _cost(row.cost_usd, row.estimated),
        }

    def upsert(self, rows: Iterable[HopRow]) -> None:
        """Add new rows and update the cells of known ones."""
        for row in rows:
            cells = self._cells(row)
            key = RowKey(row.key)
            if key not in self.rows:
                self.add_row(*(cells[k] for k, _, _ in COLUMNS), key=row.key)
                continue
            for column, value in cells.items():
                if self.get_cell(key, column) != value:
                    self.update_cell(key, column, value)

    def statuses(self, kind: str | None = None) -> list[str]:
        """Status cells top to bottom, optionally only of one kind of hop (for tests and the status line)."""
        out = []
        for row_key in self.rows:
            if kind is None or self.get_cell(row_key, "kind").plain == kind:
                out.append(self.get_cell(row_key, "status").plain)
        return out
