"""A column's latency histogram after Repeat ×N: a textual-plotext bar chart, drawn on bins shared by all columns.

Small multiples: each compare column draws its own runs, but the screen hands every column the same bins and the
same count axis (`HistogramScale`), so bars in different columns compare by position and height at a glance —
which overlaid series in a terminal do not allow. textual-plotext (and plotext under it) is imported only when a
histogram is first drawn, so starting the app does not pay for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual.widget import Widget

BINS = 8


@dataclass(frozen=True, slots=True)
class HistogramScale:
    """Bins and count axis shared by the columns: `lo`..`hi` ms in `bins` equal bins, counts up to `top`."""

    lo: float
    hi: float
    bins: int = BINS
    top: int = 1

    @classmethod
    def covering(cls, series: Sequence[Sequence[float]], bins: int = BINS) -> HistogramScale:
        values = [v for s in series for v in s]
        if not values:
            return cls(0.0, 1.0, bins)
        lo, hi = min(values), max(values)
        if hi - lo < 1.0:  # one latency (or nearly): a bin around it
            lo, hi = lo - 50.0, hi + 50.0
        scale = cls(max(0.0, lo), hi, bins)
        top = max((max(scale.counts(s)) for s in series if s), default=1)
        return cls(scale.lo, scale.hi, bins, top)

    def counts(self, values: Sequence[float]) -> list[int]:
        """How many values fall in each bin (the last bin includes `hi`)."""
        out = [0] * self.bins
        width = (self.hi - self.lo) / self.bins
        for v in values:
            out[min(self.bins - 1, max(0, math.floor((v - self.lo) / width)))] += 1
        return out


class LatencyHistogram(Widget):
    """The latencies of a column's runs as bars; hidden until a column has two runs or more."""

    DEFAULT_CSS = """
    LatencyHistogram { height: 1fr; min-height: 5; max-height: 9; display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.values: list[float] = []  # the latencies drawn (ms), in run order
        self.scale: HistogramScale | None = None
        self._plot: Any = None  # textual_plotext.PlotextPlot, mounted on first use

    async def show_runs(self, values: Sequence[float], scale: HistogramScale | None = None) -> None:
        """Draw `values` on `scale` (default: a scale covering just these values)."""
        self.values = list(values)
        if len(self.values) < 2:
            self.display = False
            return
        self.scale = scale or HistogramScale.covering([self.values])
        if self._plot is None:
            from textual_plotext import PlotextPlot  # lazy: ~40 ms of imports, paid when a repeat first ends

            self._plot = PlotextPlot()
            await self.mount(self._plot)
        self._draw()
        self.display = True

    def _draw(self) -> None:
        scale = self.scale
        assert scale is not None and self._plot is not None
        plt = self._plot.plt
        plt.clear_figure()
        width = (scale.hi - scale.lo) / scale.bins
        centers = [scale.lo + width * (i + 0.5) for i in range(scale.bins)]
        # empty bins are left out: plotext draws a zero-height bar as a sliver on the axis, which reads as a run
        filled = [(c, n) for c, n in zip(centers, scale.counts(self.values), strict=True) if n]
        if filled:
            xs, ns = zip(*filled, strict=True)
            plt.bar(list(xs), list(ns), width=0.8, minimum=0, marker="sd", reset_ticks=False)
        plt.xlim(scale.lo, scale.hi)
        plt.ylim(0, scale.top)
        plt.xticks([scale.lo, scale.hi], [f"{scale.lo:,.0f}", f"{scale.hi:,.0f} ms"])
        plt.yticks([0, scale.top])  # two labels: at five rows high, more of them collide
        self._plot.refresh()
