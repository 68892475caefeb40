"""The live hop waterfall: one row per hop, nested as the hops are, with a time bar on a shared time axis.

Each frame (15-20 a second while a run streams) the rows are rebuilt from the run's view model
(`RunState.ordered_rows()`) — a few dozen rows of Rich Text; the time axis rescales every frame, so every row's
bar changes. When the hops are the same as the last frame the prompts are replaced in place (no layout). Bars
grow with the clock while a hop is open; `░` is time before the first token, `▌` the first token, `█` streaming,
`▷` a bar still growing. Tokens and cost count up while an attempt streams, marked `~` until the provider's usage
arrives. Decisions show their reason inline. Enter (or a click) on a row posts `Waterfall.HopSelected`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Unpack

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from workbench.tui.fmt import usd
from workbench.tui.runner import ACTIVE, HopRow, RunState
from workbench.tui.widget_options import WidgetOptions

STATUS_STYLE = {
    "ok": "green",
    "error": "red",
    "timeout": "red",
    "skipped": "yellow",
    "cancelled": "yellow",
    "superseded": "yellow",
    "running": "cyan",
    "streaming": "cyan",
}
ICON = {
    "ok": "✓",
    "error": "✗",
    "timeout": "✗",
    "skipped": "↷",
    "cancelled": "■",
    "superseded": "≈",
    "running": "●",
    "streaming": "●",
}
DECISION_ICON = {"retry": "↻", "fallback": "⤳", "skip": "↷", "route": "◇", "branch": "◇", "hedge": "⇉"}


def bar(row: HopRow, axis: float, width: int, now: float) -> Text:
    """The row's time bar, `width` cells for `axis` seconds."""
    out = Text(" " * width)
    if width <= 0 or row.t_start is None:
        return out
    scale = width / max(axis, 1e-6)
    active = row.status in ACTIVE
    end = now if active or row.t_end is None else row.t_end
    a = min(width - 1, int(row.t_start * scale))
    b = min(width, max(a + 1, int(end * scale + 0.5)))
    first = None if row.t_first is None else min(b - 1, max(a, int(row.t_first * scale)))
    style = STATUS_STYLE.get(row.status, "")
    cells = []
    for i in range(a, b):
        if first is None or i < first:
            cells.append("░" if row.kind == "attempt" else "▒")
        elif i == first:
            cells.append("▌")
        else:
            cells.append("█")
    if active and cells:
        cells[-1] = "▷"
    out = Text(" " * a)
    out.append("".join(cells), style=style)
    out.append(" " * (width - b))
    return out


def _cost_text(cost: Decimal | None, estimated: bool) -> str:
    if cost is None:
        return ""
    return ("~$" if estimated else "$") + usd(cost)


class Waterfall(OptionList):
    """Hops of one run on a shared time axis."""

    class HopSelected(Message):
        def __init__(self, row: HopRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(**kwargs)
        self.state: RunState | None = None
        self._keys: list[str] = []

    def show(self, state: RunState | None) -> None:
        """Redraw from the run's view model (or empty it)."""
        self.state = state
        if state is None:
            self.clear_options()
            self._keys = []
            self.border_title = "hops"
            return
        now = state.now()
        axis = max(now, 0.05)
        self.border_title = f"hops · 0 ─ {axis * 1000:,.0f} ms"
        width = max(20, self.scrollable_content_region.width or self.size.width - 2 or 60)
        compact = width < 72
        rows = state.ordered_rows()
        parts = [self._parts(state, depth, row, compact) for depth, row in rows]
        label_w, bar_w, tail_w = self._columns(
            [part for (_, row), part in zip(rows, parts, strict=True) if row.kind != "decision"], width, compact
        )
        lines = [  # a decision's reason is shown in full: it wraps rather than being cut
            label if row.kind == "decision" else self._line(label, tail, row, axis, now, label_w, bar_w, tail_w)
            for (_, row), (label, tail) in zip(rows, parts, strict=True)
        ]
        keys = [row.key for _, row in rows]
        if keys == self._keys and keys:
            # The same hops as the last frame (most frames): new prompts in place. Clearing and adding options
            # would change the list's size twice, and each change lays out the whole screen.
            for index, line in enumerate(lines):
                self.replace_option_prompt_at_index(index, line)
            self.refresh()
            return
        keep = self.highlighted
        self.clear_options()
        self._keys = keys
        self.add_options([Option(line, id=key) for line, key in zip(lines, keys, strict=True)])
        if keep is not None and keep < len(lines):
            self.highlighted = keep

    @staticmethod
    def _columns(parts: list[tuple[Text, Text]], width: int, compact: bool) -> tuple[int, int, int]:
        """(name, bar, figures) widths of the hop rows (`parts`: their names and figures). The figures take what the widest needs (up to a cap), the names what the
        longest needs (`step triage`, not `step tria…`), and the bar the rest — it never drops below a readable
        minimum; names give way first when the pane is narrow."""
        tail_cap = 20 if compact else 30
        if width < 48:  # a pane of a side-by-side view: keep every row on one line
            tail_cap = max(8, width - 12 - 6 - 3)
        tail_w = min(tail_cap, max((t.cell_len for _, t in parts), default=0))
        min_bar = max(6, width // 5)
        want = max((label.cell_len for label, _ in parts), default=12)
        if want > width - tail_w - min_bar - 2:  # names first: an attempt's figures give way to its cost alone
            tail_w = min(tail_w, max((len(t.plain.rsplit(" ", 1)[-1]) for _, t in parts), default=0))
        label_w = max(min(12, width // 3), min(want, width - tail_w - min_bar - 2))
        bar_w = max(6, width - label_w - tail_w - 2)
        return label_w, bar_w, tail_w

    def _parts(self, state: RunState, depth: int, row: HopRow, compact: bool) -> tuple[Text, Text]:
        """A row's name and its figures, before they are fitted to columns (a decision: its text, no figures)."""
        indent = "  " * depth
        if row.kind == "decision":
            icon = DECISION_ICON.get(row.status, "›")
            line = Text(f"{indent}{icon} ", style="bold magenta")
            line.append(f"{row.label}: ", style="magenta")
            line.append(row.detail, style="italic")
            return line, Text()
        icon = ICON.get(row.status, "·")
        name = row.label.strip() if row.kind == "attempt" else f"{row.kind} {row.label}"
        if row.kind == "attempt" and row.attempt:
            name += f" #{row.attempt}"
        label = Text(f"{indent}{icon} {name}", style=STATUS_STYLE.get(row.status, ""))
        tin, tout, cost, est = state.live_tokens(row)
        tail = Text()
        if row.kind == "attempt":
            if not compact and row.latency_ms is not None and row.status not in ACTIVE:
                tail.append(f"{row.latency_ms:>6,.0f}ms ")
            if tout is not None:
                tail.append(f"{'~' if est else ''}{tout:,}tok ")
            tail.append(_cost_text(cost, est), style="bold" if not est else "")
        else:
            tail.append(row.status, style=STATUS_STYLE.get(row.status, ""))
            if row.detail and row.status not in ("ok",) and not compact:
                tail.append(f" {row.detail}", style="italic")
        return label, tail

    @staticmethod
    def _line(
        label: Text, tail: Text, row: HopRow, axis: float, now: float, label_w: int, bar_w: int, tail_w: int
    ) -> Text:
        label = label.copy()
        label.truncate(label_w, overflow="ellipsis", pad=True)
        tail = tail.copy()
        if tail.cell_len > tail_w and row.kind == "attempt":  # too narrow for every figure: the cost stays
            plain = tail.plain
            tail = Text(plain[plain.rfind(" ") + 1 :] if " " in plain else plain)
        tail.truncate(tail_w, overflow="ellipsis")
        return Text.assemble(label, " ", bar(row, axis, bar_w, now), " ", tail)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.state is not None and event.option.id in self.state.rows:
            self.post_message(self.HopSelected(self.state.rows[event.option.id]))

    def statuses(self, kind: str | None = None) -> list[str]:
        """Statuses of the rows top to bottom (tests, the status line)."""
        if self.state is None:
            return []
        return [r.status for _, r in self.state.ordered_rows() if kind is None or r.kind == kind]
