"""One column of the compare screen: a route's answer streaming, a compact waterfall, totals and repeat figures."""

from __future__ import annotations

import statistics
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from workbench.tui.fmt import usd
from workbench.tui.runner import RunState
from workbench.tui.widgets.waterfall import ICON, STATUS_STYLE, bar

SPARK = "▁▂▃▄▅▆▇█"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def histogram(values: list[float], bins: int = 8) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    counts = [0] * bins
    for v in values:
        i = 0 if hi == lo else min(bins - 1, int((v - lo) / (hi - lo) * bins))
        counts[i] += 1
    top = max(counts)
    return "".join(SPARK[min(7, (c * 8 - 1) // top)] if c else " " for c in counts)


class CompareColumn(Vertical, can_focus=True):
    """A route (with an optional fault) and the runs made through it."""

    def __init__(self, route: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route = route
        self.fault = "none"
        self.state: RunState | None = None
        self.results: list[dict[str, Any]] = []  # totals of finished runs (this send)
        self.marks: list[str] = []
        self._text = ""
        self.whatif: str | None = None  # a model alias whose prices the finished run is re-priced at
        self.models: dict[str, Any] = {}  # the profile's models (set by the screen), for what-if prices

    def compose(self) -> ComposeResult:
        yield Static(id="col-fault", markup=False)
        with VerticalScroll(id="col-answer"):
            # Columns show their answers as plain text: Markdown parsing every frame in six columns held key presses
            # ~130 ms at p95, and even one Markdown render per finished column doubled the app's CPU per token
            # (benchmarks/tui_stream.py). The playground renders the full Markdown of one answer.
            yield Static(id="col-text", markup=False)
        yield Static(id="col-hops")
        yield Static(id="col-totals")
        yield Static(id="col-stats")
        yield Static(id="col-whatif", markup=False)

    def on_mount(self) -> None:
        self.show_header()

    def show_header(self) -> None:
        self.border_title = self.route
        self.query_one("#col-fault", Static).update(f"fault: {self.fault}  (f to change)")

    async def reset(self) -> None:
        self.results = []
        self.marks = []
        self.border_subtitle = ""
        await self._show_text("")
        self.query_one("#col-stats", Static).update("")

    async def new_run(self, state: RunState) -> None:
        self.state = state
        await self._show_text("")

    async def _show_text(self, text: str) -> None:
        self._text = text
        self.query_one("#col-text", Static).update(text)

    async def apply_frame(self) -> None:
        state = self.state
        if state is None:
            return
        frame = state.take_frame()
        if frame.reset is not None:
            self._text = frame.reset
        if frame.append:
            self._text += frame.append
        if frame.reset is not None or frame.append:
            self.query_one("#col-text", Static).update(self._text)
        now = state.now()
        axis = max(now, 0.05)
        lines = []
        for _, row in state.ordered_rows():
            if row.kind == "attempt":
                line = Text(
                    f"{ICON.get(row.status, '·')} {row.label.strip()[:10]:<10} ", STATUS_STYLE.get(row.status, "")
                )
                line.append(bar(row, axis, 12, now))
                lines.append(line)
            elif row.kind == "decision":
                lines.append(Text(f"  ⤳ {row.label}", style="magenta"))
        self.query_one("#col-hops", Static).update(Text("\n").join(lines))
        t = state.totals()
        tilde = "~" if t["estimated"] else ""
        self.query_one("#col-totals", Static).update(
            Text.assemble(
                (t["status"], STATUS_STYLE.get(t["status"], "bold")),
                f" {t['latency_ms']:,.0f} ms · {tilde}{t['output_tokens']:,} tok · {tilde}${usd(t['cost'])}",
            )
        )

    def record(self, totals: dict[str, Any]) -> None:
        self.results.append(totals)
        self.show_stats()
        self.show_whatif()

    def show_whatif(self) -> None:
        from workbench.tui.whatif import finished_hops, reprice

        widget = self.query_one("#col-whatif", Static)
        state, alias = self.state, self.whatif
        if alias is None or state is None or state.finished is None or alias not in self.models:
            widget.update("")
            return
        actual = Decimal(str(state.finished.cost_usd))
        cost = reprice(finished_hops(state), self.models[alias])
        if cost is None:
            widget.update(f"what-if {alias}: no price in force")
            return
        change = f" ({(cost - actual) / actual * 100:+.0f}%)" if actual else ""
        widget.update(f"what-if {alias}: ${usd(cost)}{change} · re-priced, not called")

    def show_stats(self) -> None:
        runs = self.results
        if not runs:
            return
        ok = [r for r in runs if r["status"] == "ok"]
        fails = len(runs) - len(ok)
        lat = [float(r["latency_ms"]) for r in runs]
        ttft = [float(r["ttft_ms"]) for r in ok if r["ttft_ms"] is not None]
        cost = statistics.mean(Decimal(r["cost"]) for r in runs)
        text = (
            f"{len(runs)} run{'s' if len(runs) != 1 else ''} · p50 {percentile(lat, 50):,.0f} p95 {percentile(lat, 95):,.0f} ms"
            f"\nTTFT p50 {percentile(ttft, 50):,.0f} ms · mean ${usd(cost)} · {fails}/{len(runs)} fail"
            if ttft
            else f"{len(runs)} runs · {fails}/{len(runs)} fail · mean ${usd(cost)}"
        )
        if len(runs) > 1:
            text += f"\n{histogram(lat)} latency"
        self.query_one("#col-stats", Static).update(text)

    def mark(self, marks: list[str]) -> None:
        self.marks = marks
        self.border_subtitle = " · ".join(marks)
        self.set_class("failed" in marks, "-failed")
        self.set_class("fastest" in marks, "-fastest")
