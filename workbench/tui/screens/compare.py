"""Compare: one prompt through 2-6 routes at once, side by side, each column with its own fault dial.

A column's fault (none, 503, 429, slow, hang, drop) is dialed on the simulator for that column only: its runs go
through an engine built on a copy of the profile whose route's primary target has the fault (as `workbench run
--sim-fault` does), so the fallback taking over shows side by side with the unfaulted columns. (The simulator's
`x-sim-behaviour` request header would hit every target of the chain, fallbacks included, so it cannot show a
fallback; and the engine has no client-side fault injection for real providers yet.) Repeat ×N runs the prompt
N times per column and shows p50/p95 latency, TTFT, mean cost, failures and a latency histogram.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Static

from workbench.tui.live import HARD_STOP_AFTER, LiveRun, settle_input
from workbench.tui.routes import price_lookup, route_options, route_targets
from workbench.tui.runner import RunState
from workbench.tui.widgets import PromptArea
from workbench.tui.widgets.compare_column import CompareColumn
from workbench.tui.widgets.fault_toggle import FaultToggle
from workbench.tui.widgets.latency_histogram import HistogramScale

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from workbench.profiles.load import LoadedProfile
    from workbench.tui.app import WorkbenchApp

FAULTS = ("none", "http_503", "http_429", "slow", "hang", "drop")
MAX_COLUMNS = 6
FRAME_INTERVAL = 1 / 12  # 12 frames a second while columns stream (the design asks 10-20): each is a repaint
COLUMN_WIDTH = 36  # cells a column needs to read well; narrower columns scroll the row sideways instead


def faulted_profile(loaded: LoadedProfile, route: str, fault: str) -> LoadedProfile:
    """A copy of the profile whose route's primary target has `fault` dialed (sim models only)."""
    from workbench.sim.behaviour import Fault, SimBehaviour

    profile = loaded.profile
    alias = route_targets(loaded, route)[0]
    model = profile.models[alias]
    if profile.providers[model.provider].kind != "sim":
        from workbench.errors import EngineError

        raise EngineError(f"{alias!r} is not a simulated model: faults can only be dialed on the simulator")
    sim = model.sim or SimBehaviour()
    if fault == "slow":
        sim = sim.model_copy(update={"ttft_ms": max(sim.ttft_ms * 10, 1500.0), "faults": []})
    else:
        sim = sim.model_copy(update={"faults": [Fault(kind=fault, rate=1.0, retry_after_s=0.2)]})
    models = {**profile.models, alias: model.model_copy(update={"sim": sim})}
    return replace(loaded, profile=profile.model_copy(update={"models": models}))


class CompareScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", priority=True),  # not ctrl+j: an unbracketed pasted newline
        Binding("f", "fault", "Fault"),
        Binding("r", "repeat", "Repeat ×5"),
        Binding("a", "add", "Add column"),
        Binding("x", "remove", "Remove"),
        Binding("w", "whatif", "What-if price"),
        Binding("escape", "cancel", "Stop"),
    ]

    def __init__(self) -> None:
        super().__init__(id="compare")
        self._ticker: Timer | None = None
        self._comparing = False
        self._stopping = False  # Esc was pressed: the runs in flight are winding down, no further repeats
        self._live: dict[CompareColumn, LiveRun] = {}  # each column's run in flight
        self.repeat_n = 1

    @property
    def wapp(self) -> WorkbenchApp:
        from workbench.tui.host import workbench_app

        return workbench_app(self.app)

    def compose(self) -> ComposeResult:
        routes = route_options(self.wapp.loaded)
        yield Static("compare · one prompt through every column · tab moves between columns", id="compare-title")
        prompt = PromptArea(id="compare-prompt")
        prompt.border_subtitle = "ctrl+s send · r repeat ×5 · f fault · w what-if price · a/x add/remove column"
        yield prompt
        # Not focusable itself: Tab from the prompt goes to the first column, not to an invisible container.
        with HorizontalScroll(id="columns", can_focus=False):
            for route in routes[: min(3, len(routes))]:
                yield CompareColumn(route)
        yield Footer()

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self, count: int | None = None, new: CompareColumn | None = None) -> None:
        """Columns share the width while each gets COLUMN_WIDTH cells; beyond that they keep that width and the
        row scrolls sideways (a `1fr` column in a scrolling row would take the whole screen width)."""
        cols = self.columns + ([new] if new is not None else [])
        n = len(cols) if count is None else count
        width = COLUMN_WIDTH if n * COLUMN_WIDTH > self.size.width else "1fr"
        for col in cols:
            col.styles.width = width

    def on_mount(self) -> None:
        self._ticker = self.set_interval(FRAME_INTERVAL, self._frame, pause=True)

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab order: the prompt, the columns left to right, then their fault toggles, then round again."""
        chain = super().focus_chain
        toggles = [w for w in chain if isinstance(w, FaultToggle)]
        rest = [w for w in chain if not isinstance(w, FaultToggle)]
        after = max((i for i, w in enumerate(rest) if isinstance(w, CompareColumn)), default=len(rest) - 1) + 1
        return rest[:after] + toggles + rest[after:]

    @on(FaultToggle.Pressed)
    def _toggle_pressed(self, event: FaultToggle.Pressed) -> None:
        column = event.toggle.parent
        if isinstance(column, CompareColumn):
            self.action_fault(column)

    @property
    def columns(self) -> list[CompareColumn]:
        return list(self.query(CompareColumn))

    def _focused_column(self) -> CompareColumn | None:
        node: DOMNode | None = self.focused
        while node is not None and not isinstance(node, CompareColumn):
            node = node.parent
        return node if isinstance(node, CompareColumn) else (self.columns[0] if self.columns else None)

    def action_fault(self, column: CompareColumn | None = None) -> None:
        col = column or self._focused_column()
        if col is None:
            return
        col.fault = FAULTS[(FAULTS.index(col.fault) + 1) % len(FAULTS)]
        col.show_header()

    def action_whatif(self, column: CompareColumn | None = None) -> None:
        """Cycle the column's what-if model: the finished run re-priced at another model's prices."""
        col = column or self._focused_column() or (self.columns[0] if self.columns else None)
        if col is None:
            return
        models = list(self.wapp.loaded.profile.models)
        choices: list[str | None] = [None, *models]
        col.models = dict(self.wapp.loaded.profile.models)
        col.whatif = choices[(choices.index(col.whatif) + 1) % len(choices)] if col.whatif in choices else None
        col.show_whatif()
        if col.whatif is not None and (col.state is None or col.state.finished is None):
            self.notify(f"what-if {col.whatif}: shown once this column has a finished run", timeout=3)

    def action_add(self) -> None:
        cols = self.columns
        if len(cols) >= MAX_COLUMNS:
            self.notify(f"at most {MAX_COLUMNS} columns", severity="warning")
            return
        shown = [c.route for c in cols]
        routes = route_options(self.wapp.loaded)
        route = next((r for r in routes if r not in shown), routes[len(cols) % len(routes)])
        column = CompareColumn(route)
        self._fit_columns(new=column)
        self.query_one("#columns").mount(column)

    def action_remove(self) -> None:
        col = self._focused_column()
        if col is not None and len(self.columns) > 2:
            self._fit_columns(len(self.columns) - 1)
            col.remove()

    def action_repeat(self, n: int = 5) -> None:
        self.repeat_n = n
        self.run_worker(self.action_send(), exclusive=False)

    async def action_send(self) -> None:
        await settle_input(self.app.focused)  # the keys typed just before ctrl+s are part of the prompt
        prompt = self.query_one(PromptArea).text.strip()
        if not prompt:
            self.notify("Write a prompt first.", severity="warning", timeout=3)
            return
        if self._comparing:
            self.notify("A comparison is running: Esc stops it.", severity="warning")
            return
        n, self.repeat_n = self.repeat_n, 1
        for col in self.columns:
            await col.reset(n)
        self._compare(prompt, n)

    def action_cancel(self) -> None:
        """Stop every column the way the playground stops a run: the engine ends each run as cancelled (and it is
        saved); a run that does not wind down in time is cancelled outright (and closed by `LiveRun.drive`)."""
        if not self._comparing:
            return
        self._stopping = True
        for live in self._live.values():
            live.stop()
        self.set_timer(HARD_STOP_AFTER, self._hard_stop, name="hard-stop")

    def _hard_stop(self) -> None:
        if self._comparing and self._stopping:
            for worker in self.workers:
                if worker.group == "compare":
                    worker.cancel()

    async def _frame(self) -> None:
        with self.app.batch_update():
            for col in self.columns:
                await col.apply_frame()

    @work(group="compare", exclusive=True, exit_on_error=False, description="compare routes")
    async def _compare(self, prompt: str, n: int) -> None:
        self._comparing, self._stopping = True, False
        assert self._ticker is not None
        self._ticker.resume()
        try:
            await asyncio.gather(*(self._column_runs(col, prompt, n) for col in self.columns))
        finally:
            self._ticker.pause()
            await self._frame()
            self._comparing = False
            self._live.clear()
            for col in self.columns:
                col.settle()
            self._mark()
            await self._share_histogram_scale()

    async def _share_histogram_scale(self) -> None:
        """Redraw the columns' histograms on one scale (same bins, same count axis): small multiples to compare."""
        cols = [c for c in self.columns if len(c.results) > 1]
        if cols:
            scale = HistogramScale.covering([c.latencies for c in cols])
            for col in cols:
                await col.show_histogram(scale)

    async def _column_runs(self, col: CompareColumn, prompt: str, n: int) -> None:
        app = self.wapp
        loaded = app.loaded
        if col.fault == "none":
            await self._runs(await app.engines.get(), col, prompt, n, loaded)
            return
        faulted = faulted_profile(loaded, col.route, col.fault)
        async with app.engines.factory(faulted) as engine:
            await self._runs(engine, col, prompt, n, faulted)

    async def _runs(self, engine: Any, col: CompareColumn, prompt: str, n: int, loaded: LoadedProfile) -> None:
        clock = self._column_clock()
        for _ in range(n):
            if self._stopping:
                break
            state = RunState(col.route, prompt, clock=clock, price_of=price_lookup(loaded))
            await col.new_run(state)
            live = self._live[col] = LiveRun(state)
            try:
                await live.drive(engine, self.wapp.observe)
            finally:
                self._live.pop(col, None)
                await col.apply_frame()
            await col.record(state.totals())

    def _column_clock(self) -> Any:
        """The clock a column's runs are timed on: the app's, or — when it can `fork` (a test's ticking clock) — one
        of the column's own, so that columns whose events interleave do not move each other's time axes."""
        fork = getattr(self.wapp.clock, "fork", None)
        return fork() if callable(fork) else self.wapp.clock

    def _mark(self) -> None:
        cols = [c for c in self.columns if c.results]
        if not cols:
            return

        def mean(c: CompareColumn, key: str) -> float:
            return sum(float(r[key]) for r in c.results) / len(c.results)

        ok = [c for c in cols if all(r["status"] == "ok" for r in c.results)]
        fastest = min(ok, key=lambda c: mean(c, "latency_ms"), default=None)
        cheapest = min(ok, key=lambda c: mean(c, "cost"), default=None)
        for c in cols:
            marks = []
            if c is fastest:
                marks.append("fastest")
            if c is cheapest:
                marks.append("cheapest")
            if c not in ok:  # a run stopped with Esc did not fail: it says so
                stopped = any(r["status"] == "cancelled" for r in c.results)
                marks.append("stopped" if stopped else "failed")
            c.mark(marks)
