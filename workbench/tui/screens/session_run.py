"""A past run, opened from Sessions: its answer and its waterfall exactly as recorded, and a re-run beside it.

The run is read in a thread worker and drawn by the playground's `Waterfall` from `recorded_state` (the stored
hops and decisions on the run's own recorded time axis). `r` sends the same prompt again: on the run's own route
when the current profile still has it, else on the playground's route (the header says which, and why). The
recorded run and the new one then stand side by side, the new one streaming live, with the differences in
latency, TTFT, tokens, cost and status below them. The new run is saved like any other (through the app's
`observe`). Enter on a hop opens its detail, as in the playground.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from workbench.tui.fmt import usd
from workbench.tui.routes import price_lookup
from workbench.tui.runner import RunState
from workbench.tui.sessions_model import deltas, recorded_state, recorded_totals
from workbench.tui.widgets.run_list import STATUS_ICON, STATUS_STYLE
from workbench.tui.widgets.waterfall import Waterfall

if TYPE_CHECKING:
    from workbench.store import RunDetail
    from workbench.tui.app import WorkbenchApp

FRAME_INTERVAL = 1 / 16


def totals_line(totals: dict[str, Any]) -> Text:
    status = str(totals.get("status") or "")
    out = Text(f"{STATUS_ICON.get(status, '●')} {status}", style=STATUS_STYLE.get(status, "cyan"))
    latency, ttft = totals.get("latency_ms"), totals.get("ttft_ms")
    out.append(f" · {latency or 0:,.0f} ms")
    if ttft is not None:
        out.append(f" · ttft {ttft:,.0f} ms")
    out.append(f" · {totals.get('input_tokens') or 0:,}→{totals.get('output_tokens') or 0:,} tok")
    out.append(f" · {'~' if totals.get('estimated') else ''}${usd(totals.get('cost') or 0)}", style="bold")
    return out


class RunPane(Vertical):
    """One run: a title, its totals, the answer and the waterfall."""

    DEFAULT_CSS = """
    RunPane { width: 1fr; height: 1fr; border: round $primary 60%; padding: 0 1; }
    RunPane > .pane-totals { height: auto; }
    RunPane > .pane-answer { height: 1fr; min-height: 3; }
    """

    def compose(self) -> ComposeResult:
        yield Static(classes="pane-totals")
        with VerticalScroll(classes="pane-answer"):
            yield Static(classes="pane-text", markup=False)
        waterfall = Waterfall()
        # (inline: the app's stylesheet gives every Waterfall `height: 1fr`, and it outranks DEFAULT_CSS)
        waterfall.styles.height = "auto"
        waterfall.styles.max_height = "60%"
        waterfall.styles.margin = 0
        yield waterfall

    def show(self, title: str, state: RunState, totals: dict[str, Any], answer: str) -> None:
        self.border_title = title
        self.query_one(".pane-totals", Static).update(totals_line(totals))
        self.query_one(".pane-text", Static).update(answer or "(no answer)")
        self.query_one(Waterfall).show(state)

    def on_resize(self) -> None:
        # The waterfall sizes its bars to its width: draw it again once the new width is laid out.
        waterfall = self.query_one(Waterfall)
        self.call_after_refresh(lambda: waterfall.show(waterfall.state))


class SessionRunScreen(Screen[None]):
    DEFAULT_CSS = """
    #run-head { height: auto; margin: 0 1; }
    #run-panes { height: 1fr; }
    #run-deltas { height: auto; margin: 0 1; }
    #rerun-pane { display: none; }
    SessionRunScreen.-rerun #rerun-pane { display: block; }
    """
    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("r", "rerun", "Re-run"),
        Binding("e", "export", "Export"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.detail: RunDetail | None = None
        self.recorded: RunState | None = None
        self.new: RunState | None = None
        self.rerun_route: str | None = None
        self.rerun_why = ""
        self._ticker: Timer | None = None

    @property
    def wapp(self) -> WorkbenchApp:
        from workbench.tui.host import workbench_app

        return workbench_app(self.app)

    def compose(self) -> ComposeResult:
        yield Static(f"run {self.run_id} · loading…", id="run-head", markup=False)
        with Horizontal(id="run-panes"):
            yield RunPane(id="recorded-pane")
            yield RunPane(id="rerun-pane")
        yield Static(id="run-deltas")
        yield Footer()

    def on_mount(self) -> None:
        self._ticker = self.set_interval(FRAME_INTERVAL, self._frame, pause=True)
        self._load()

    @work(thread=True, exclusive=True, group="session-run-load", exit_on_error=False)
    def _load(self) -> None:
        from workbench.store import open_store

        with open_store(self.wapp.db_path, create=False) as store:
            detail = store.get_run(self.run_id)
        self.app.call_from_thread(self._show_recorded, detail)

    def _show_recorded(self, detail: RunDetail) -> None:
        self.detail = detail
        run = detail.run
        self.recorded = recorded_state(detail)
        when = str(run.get("started_at") or "").replace("T", " ")[:19]
        head = Text(f"run {run['id']} · {when} UTC · route {run.get('route')} · session {run.get('session')}")
        head.append("\nprompt: ", style="bold")
        head.append(" ".join(str(run.get("prompt") or "").split())[:300])
        self.query_one("#run-head", Static).update(head)
        pane = self.query_one("#recorded-pane", RunPane)
        pane.show("recorded", self.recorded, recorded_totals(run), str(run.get("output") or run.get("error") or ""))
        pane.query_one(Waterfall).focus()

    # -- re-run ------------------------------------------------------------------------------------------------
    def choose_route(self) -> tuple[str, str]:
        """(route, why): the run's own route if the profile still has it, else the playground's current one."""
        assert self.detail is not None
        routes = self.wapp.loaded.profile.routes
        original = str(self.detail.run.get("route") or "")
        if original in routes:
            return original, f"on its original route {original!r}"
        from textual.css.query import NoMatches

        from workbench.tui.screens.playground import PlaygroundScreen

        current = None
        try:
            stack = self.app.get_screen_stack("playground")  # (a mode: not a named screen)
            if stack and isinstance(stack[0], PlaygroundScreen):
                current = stack[0].route
        except (KeyError, NoMatches):  # the playground mode, or its route select, is not set up yet
            current = None
        route = current if current in routes else next(iter(routes))
        return route, f"on the current route {route!r} (the profile has no route {original!r} any more)"

    def action_rerun(self) -> None:
        if self.detail is None:
            return
        if any(w.group == "session-rerun" and w.is_running for w in self.workers):
            self.notify("The re-run is still going.", severity="warning", timeout=3)
            return
        route, why = self.choose_route()
        turn = int(self.detail.run.get("session_turn") or 1)
        if turn > 1:
            why += f"; its prompt alone (it was turn {turn} of a conversation: the earlier turns are not re-sent)"
        self.rerun_route, self.rerun_why = route, why
        loaded = self.wapp.loaded
        prompt = str(self.detail.run.get("prompt") or "")
        self.new = RunState(
            route,
            prompt,
            multi_step=len(loaded.profile.routes[route].steps) > 1,
            clock=self.wapp.clock,
            price_of=price_lookup(loaded),
        )
        self.add_class("-rerun")
        self.query_one("#run-deltas", Static).update(Text(f"re-running {why}…", style="italic"))
        self._frame()
        self._rerun(self.new)

    @work(group="session-rerun", exclusive=True, exit_on_error=False, description="re-run a saved prompt")
    async def _rerun(self, state: RunState) -> None:
        from workbench.engine.cancel import CancelToken

        assert self._ticker is not None
        self._ticker.resume()
        try:
            engine = await self.wapp.engines.get()
            async with aclosing(engine.run(state.prompt, route=state.route, cancel=CancelToken())) as events:
                async for event in events:
                    self.wapp.observe(event)
                    state.apply(event)
        except asyncio.CancelledError:
            state.mark_cancelled()
            raise
        finally:
            self._ticker.pause()
            self._frame()
            self._show_deltas()
        if state.run_id:
            self.notify(f"re-run saved as {state.run_id}", timeout=4)

    def _frame(self) -> None:
        state = self.new
        if state is None:
            return
        title = f"now · {state.route}" + (" · saved" if state.finished and self.wapp.db_path else "")
        self.query_one("#rerun-pane", RunPane).show(title, state, state.totals(), state.answer)

    def _show_deltas(self) -> None:
        if self.detail is None or self.new is None:
            return
        new = self.new.totals()
        parts = Text()
        parts.append(f"re-run {self.rerun_why}. ", style="italic")
        parts.append("recorded → now: ", style="bold")
        for i, (name, text) in enumerate(deltas(recorded_totals(self.detail.run), new)):
            parts.append(("  ·  " if i else "") + f"{name} ", style="bold")
            parts.append(text)
        self.query_one("#run-deltas", Static).update(parts)

    # -- other keys --------------------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_export(self) -> None:
        if self.detail is None:
            return
        from pathlib import Path

        from workbench.tui.screens.sessions import export_run

        path = export_run(Path(self.wapp.db_path or "."), self.detail)
        self.notify(f"exported to {path}")

    @on(Waterfall.HopSelected)
    def _open_hop(self, event: Waterfall.HopSelected) -> None:
        from workbench.tui.screens.hop_detail import HopDetailScreen

        self.app.push_screen(HopDetailScreen(event.row))
