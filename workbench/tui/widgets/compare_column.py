"""One column of the compare screen: a route's answer streaming, a compact waterfall, totals and repeat figures."""

from __future__ import annotations

import statistics
from decimal import Decimal
from typing import Any, Unpack

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from workbench.tui.fmt import usd
from workbench.tui.runner import RunState
from workbench.tui.widget_options import WidgetOptions
from workbench.tui.widgets.fault_toggle import FaultToggle
from workbench.tui.widgets.latency_histogram import HistogramScale, LatencyHistogram
from workbench.tui.widgets.stream_text import StreamText
from workbench.tui.widgets.text_lines import TextLines
from workbench.tui.widgets.waterfall import ICON, STATUS_STYLE, bar


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def hop_lines(state: RunState, width: int) -> list[Text]:
    """The column's compact waterfall: one line per attempt (icon, model, time bar) and per decision, each
    fitted to `width` cells so that a row never wraps (a wrapped row would change the column's layout)."""
    now = state.now()
    axis = max(now, 0.05)
    label_w = min(10, max(4, width // 3))
    bar_w = max(4, width - label_w - 3)
    lines = []
    for _, row in state.ordered_rows():
        if row.kind == "attempt":
            line = Text(
                f"{ICON.get(row.status, '·')} {row.label.strip()[:label_w]:<{label_w}} ",
                STATUS_STYLE.get(row.status, ""),
            )
            line.append(bar(row, axis, bar_w, now))
            lines.append(line)
        elif row.kind == "decision":
            line = Text(f"  ⤳ {row.label}", style="magenta")
            line.truncate(width, overflow="ellipsis")
            lines.append(line)
    return lines


def totals_line(t: dict[str, Any]) -> Text:
    tilde = "~" if t["estimated"] else ""
    return Text.assemble(
        (t["status"], STATUS_STYLE.get(t["status"], "bold")),
        f" {t['latency_ms']:,.0f} ms · {tilde}{t['output_tokens']:,} tok · {tilde}${usd(t['cost'])}",
    )


def stats_lines(runs: list[dict[str, Any]]) -> list[str]:
    """Repeat figures of a column's finished runs: count, p50/p95 latency, TTFT, mean cost, failures."""
    ok = [r for r in runs if r["status"] == "ok"]
    fails = len(runs) - len(ok)
    lat = [float(r["latency_ms"]) for r in runs]
    ttft = [float(r["ttft_ms"]) for r in ok if r["ttft_ms"] is not None]
    cost = statistics.mean(Decimal(r["cost"]) for r in runs)
    plural = "s" if len(runs) != 1 else ""
    if not ttft:
        return [f"{len(runs)} run{plural} · {fails}/{len(runs)} fail · mean ${usd(cost)}"]
    lines = [
        f"{len(runs)} run{plural} · p50 {percentile(lat, 50):,.0f} p95 {percentile(lat, 95):,.0f} ms",
        f"TTFT p50 {percentile(ttft, 50):,.0f} ms · mean ${usd(cost)} · {fails}/{len(runs)} fail",
    ]
    return lines


# Lines shaped like the widest a run shows, to hold their room from the start (see `CompareColumn.reset`).
_SAMPLE_TOTALS = {
    "status": "running",
    "latency_ms": 99_999,
    "output_tokens": 9_999,
    "cost": 0.123456,
    "estimated": True,
}
_SAMPLE_RUN = {"status": "ok", "latency_ms": 99_999.0, "ttft_ms": 9_999.0, "cost": "0.123456"}


class CompareColumn(Vertical, can_focus=True):
    """A route (with an optional fault) and the runs made through it."""

    DEFAULT_CSS = """
    CompareColumn #col-text { height: 1fr; min-height: 1; overflow-y: scroll; scrollbar-size-vertical: 1;
        scrollbar-background: transparent; scrollbar-background-hover: transparent; scrollbar-background-active: transparent; }
    """

    def __init__(self, route: str, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(**kwargs)
        self.route = route
        self.fault = "none"
        self.state: RunState | None = None
        self.results: list[dict[str, Any]] = []  # totals of finished runs (this send)
        self.marks: list[str] = []
        self.whatif: str | None = None  # a model alias whose prices the finished run is re-priced at
        self.models: dict[str, Any] = {}  # the profile's models (set by the screen), for what-if prices

    def compose(self) -> ComposeResult:
        yield FaultToggle(id="col-fault")
        # Columns show their answers as plain text, wrapped incrementally (StreamText): Markdown parsing every frame
        # in six columns held key presses ~130 ms at p95, and a Static re-wrapped the whole answer and laid out the
        # screen every frame (benchmarks/tui_stream.py). The playground renders the full Markdown of one answer.
        yield StreamText(id="col-text")
        yield TextLines(id="col-run")  # the compact waterfall and the totals line: one widget, one repaint a frame
        yield TextLines(id="col-stats")
        yield LatencyHistogram(id="col-hist")
        yield TextLines(id="col-whatif")

    def on_mount(self) -> None:
        self.show_header()

    def show_header(self) -> None:
        self.border_title = self.route
        self.query_one("#col-fault", FaultToggle).show(self.fault)

    async def reset(self, runs: int = 1) -> None:
        self.results = []
        self.marks = []
        self.border_subtitle = ""
        await self._show_text("")
        await self.query_one("#col-hist", LatencyHistogram).show_runs([])
        # Hold the room the run's lines will need from the start: a hop row, the totals, the figures appearing
        # while six columns stream would each lay out the whole screen (and shift the text above them).
        samples: list[list[Text | str]] = [
            # a routing decision and the attempt (a fallback adds rows), then the totals
            [Text("⤳ route"), Text("● model"), totals_line(_SAMPLE_TOTALS)],
            list(stats_lines([_SAMPLE_RUN] * runs)),
        ]
        for name, sample in zip(("#col-run", "#col-stats"), samples, strict=True):
            widget = self.query_one(name, TextLines)
            widget.set_lines([])
            widget.reserve(sample)

    async def new_run(self, state: RunState) -> None:
        self.state = state
        await self._show_text("")

    @property
    def text(self) -> str:
        """The answer shown in the column."""
        return self.query_one("#col-text", StreamText).text

    async def _show_text(self, text: str) -> None:
        self.query_one("#col-text", StreamText).update(text)

    async def apply_frame(self) -> None:
        state = self.state
        if state is None:
            return
        frame = state.take_frame()
        view = self.query_one("#col-text", StreamText)
        if frame.reset is not None:
            view.update(frame.reset)
        if frame.append:
            view.append(frame.append)
        run = self.query_one("#col-run", TextLines)
        run.set_lines([*hop_lines(state, run.content_size.width or 24), totals_line(state.totals())])

    async def record(self, totals: dict[str, Any]) -> None:
        self.query_one("#col-text", StreamText).sync_scrollbar()
        self.results.append(totals)
        self.show_stats()
        self.show_whatif()
        await self.show_histogram()

    def settle(self) -> None:
        """The send is over: the run lines and figures take their exact height again (one layout)."""
        for name in ("#col-run", "#col-stats"):
            self.query_one(name, TextLines).keep_height(False)

    @property
    def latencies(self) -> list[float]:
        """Latency (ms) of each finished run of this send, in run order."""
        return [float(r["latency_ms"]) for r in self.results]

    async def show_histogram(self, scale: HistogramScale | None = None) -> None:
        """The runs' latencies as a histogram (from two runs on), on `scale` when the screen shares one."""
        await self.query_one("#col-hist", LatencyHistogram).show_runs(self.latencies, scale)

    def show_whatif(self) -> None:
        from workbench.tui.whatif import finished_hops, reprice

        widget = self.query_one("#col-whatif", TextLines)
        state, alias = self.state, self.whatif
        if alias is None or state is None or state.finished is None or alias not in self.models:
            widget.set_lines([])
            return
        actual = Decimal(str(state.finished.cost_usd))
        cost = reprice(finished_hops(state), self.models[alias])
        if cost is None:
            widget.set_lines([f"what-if {alias}: no price in force"])
            return
        change = f" ({(cost - actual) / actual * 100:+.0f}%)" if actual else ""
        widget.set_lines([f"what-if {alias}: ${usd(cost)}{change} · re-priced, not called"])

    def show_stats(self) -> None:
        if self.results:
            self.query_one("#col-stats", TextLines).set_lines(stats_lines(self.results))

    def mark(self, marks: list[str]) -> None:
        self.marks = marks
        self.border_subtitle = " · ".join(marks)
        self.set_class("failed" in marks, "-failed")
        self.set_class("stopped" in marks, "-stopped")
        self.set_class("fastest" in marks, "-fastest")
