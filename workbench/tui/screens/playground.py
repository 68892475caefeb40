"""The playground: pick a route, write a prompt, watch the answer stream and the hop waterfall grow.

The run itself happens in an exclusive async worker (group "run") that folds engine events into a `RunState`
(the per-run view model); a 12 Hz timer applies what changed to the widgets, never one render per token. Esc
cancels through the engine's `CancelToken`; if the engine does not wind down promptly, the worker itself is
cancelled (which closes the event iterator). The conversation (history) flows into the next prompt until
ctrl+l starts a new one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from workbench.tui.live import HARD_STOP_AFTER, LiveRun, settle_input
from workbench.tui.options import parse_meta
from workbench.tui.routes import price_lookup, route_options, route_summary, routes_missing_env
from workbench.tui.runner import RunState
from workbench.tui.widgets import AnswerView, PromptArea, StatusLine, Waterfall

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

FRAME_INTERVAL = 1 / 12  # seconds between two frames while a run streams (12 Hz: each re-wraps the answer's live tail)


class PlaygroundScreen(Screen[None]):
    """One prompt through one route, live."""

    BINDINGS = [
        # Not ctrl+j: a newline pasted without bracketed paste arrives as ctrl+j, and must stay a newline.
        Binding("ctrl+s,ctrl+enter", "send", "Send", priority=True, id="send", tooltip="Send the prompt"),
        Binding("escape", "cancel_run", "Stop", id="cancel", tooltip="Cancel the running run"),
        Binding("ctrl+l", "clear", "New chat", id="clear", tooltip="Clear the answer and the conversation"),
        Binding("ctrl+r", "focus_routes", "Route", id="route", tooltip="Pick another route"),
    ]

    def __init__(self) -> None:
        super().__init__(id="playground")
        self.state: RunState | None = None
        self.history: list[dict[str, str]] = []
        self._worker: Worker[None] | None = None
        self._live: LiveRun | None = None  # the run in progress (its cancel token)
        self._ticker: Timer | None = None
        self._error: str | None = None
        self._run_meta: dict[str, str] = {}  # the metadata of the run being sent
        self._session: str | None = None  # the session whose conversation `history` is

    @property
    def wapp(self) -> WorkbenchApp:
        from workbench.tui.host import workbench_app

        return workbench_app(self.app)

    def compose(self) -> ComposeResult:
        loaded = self.wapp.loaded
        missing = routes_missing_env(loaded)
        routes = route_options(loaded)
        options = [(f"{name} ⚠ needs {', '.join(missing[name])}" if name in missing else name, name) for name in routes]
        with Horizontal(id="controls"):
            yield Select(options, value=routes[0], allow_blank=False, id="route")
            with Vertical(id="route-side"):
                yield Static(route_summary(loaded, routes[0]), id="route-info", markup=False)
                with Horizontal(id="run-options"):
                    # what `workbench run --meta K=V --session NAME` sets: routing rules and templates read the
                    # metadata (the `risk` route's branches); a session continues its saved conversation
                    yield Label("meta", classes="opt-label")
                    yield Input(placeholder="k=v k=v (e.g. risk=high)", id="meta", compact=True)
                    yield Label("session", classes="opt-label")
                    yield Input(value=self.wapp.session_name or "", placeholder="(none)", id="session", compact=True)
        if missing:
            names = sorted({v for vs in missing.values() for v in vs})
            yield Static(
                f"⚠ missing API keys: {', '.join(names)} — routes marked ⚠ will fail until they are set"
                " (the simulated routes work).",
                id="banner",
                markup=False,
            )
        yield PromptArea(id="prompt")
        with Horizontal(id="work"):
            yield AnswerView(id="answer")
            yield Waterfall(id="hops")
        yield StatusLine(id="status")
        yield Footer()

    def reload_profile(self) -> None:
        """The app's profile changed (the composer's unsaved edits): offer its routes, keep the choice if it is
        still there."""
        loaded = self.wapp.loaded
        routes = route_options(loaded)
        select = self.query_one("#route", Select)
        current = select.value
        select.set_options([(name, name) for name in routes])
        select.value = current if current in routes else routes[0]
        self.query_one("#route-info", Static).update(route_summary(loaded, str(select.value)))
        self._shown_profile = loaded.text

    def on_screen_resume(self) -> None:
        # Back from the composer (or any screen): its unsaved edits may have added, renamed or removed routes.
        if self.wapp.loaded.text != self._shown_profile:
            self.reload_profile()

    def on_mount(self) -> None:
        self._shown_profile = self.wapp.loaded.text  # the profile whose routes the picker offers
        self.query_one(AnswerView).border_title = "answer"
        self.query_one(Waterfall).border_title = "hops"
        self._show_idle()
        self._ticker = self.set_interval(FRAME_INTERVAL, self.apply_frame, pause=True, name="frames")
        self.query_one(PromptArea).focus()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")
        self.query_one(Waterfall).show(self.state)

    # -- running ---------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    @property
    def route(self) -> str:
        return str(self.query_one("#route", Select).value)

    @work(exclusive=True, group="run", exit_on_error=False, description="run a prompt through the engine")
    async def _run_prompt(self, live: LiveRun) -> None:
        state = live.state
        try:
            engine = await self.wapp.engines.get()
            self._live = live
            self._run_began()
            await live.drive(
                engine,
                self.wapp.observe,
                history=state.history or None,
                metadata=self._run_meta or None,
                session_id=self._session,
            )
            if state.finished is None:
                self._error = "the engine ended the run without reporting its result"
        except asyncio.CancelledError:
            state.mark_cancelled()  # (drive has closed a run the engine began; this covers one that never began)
            self._error = "the run was stopped"
            raise
        except Exception as exc:
            self._error = str(exc)
            raise
        finally:
            self.call_later(self._run_ended, state)

    def _run_began(self) -> None:
        self.query_one(StatusLine).show_totals(self.route, self.state.totals() if self.state else {}, turn=self.turn)
        if self._ticker is not None:
            self._ticker.resume()
        self.refresh_bindings()

    async def _run_ended(self, state: RunState) -> None:
        if self._ticker is not None:
            self._ticker.pause()
        await self.apply_frame()
        await self.query_one(AnswerView).finish()  # the answer's still-growing end becomes Markdown too
        fin = state.finished
        if fin is not None and fin.status == "ok":
            self.history += [{"role": "user", "content": state.prompt}, {"role": "assistant", "content": fin.output}]
        elif state.cancelled:
            self.notify("Run cancelled.", severity="warning", timeout=3)
        elif fin is not None:
            self.notify(fin.error or "the run failed", title="run failed", severity="error", timeout=8)
        if fin is None and not state.cancelled:
            self.query_one(StatusLine).show_problem("error", state.route, self._error or "")
        self._live = None
        self.refresh_bindings()

    @property
    def turn(self) -> int:
        return 1 + len(self.history) // 2

    async def apply_frame(self) -> None:
        """Apply what changed since the last frame: the waterfall, the totals and one Markdown append."""
        state = self.state
        if state is None:
            return
        frame = state.take_frame()
        with self.app.batch_update():
            self.query_one(Waterfall).show(state)
            self.query_one(StatusLine).show_totals(
                state.route,
                state.totals(),
                turn=state.turn,
                # a degraded run has an answer and no error: say why it is degraded instead (a gate's fallback)
                error=(state.finished.error or state.finished.reason if state.finished else None),
            )
        if frame.reset is not None or frame.append:
            await self.query_one(AnswerView).show(reset=frame.reset, append=frame.append)

    # -- actions ---------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Stop while a run is on, New chat while none is: the footer shows one of the two and fits 120 columns.
        if action == "cancel_run":
            return self.running
        if action == "clear":
            return not self.running
        return True

    @on(Select.Changed, "#route")
    def _route_changed(self, event: Select.Changed) -> None:
        self.query_one("#route-info", Static).update(route_summary(self.wapp.loaded, str(event.value)))
        focused = self.app.focused  # the picker, or its open list: picked by hand (ctrl+r)
        if focused is not None and event.select in focused.ancestors_with_self:
            self.query_one(PromptArea).focus()  # what comes next is the prompt, not the meta field

    @on(Input.Submitted, "#meta, #session")
    def _option_entered(self) -> None:
        self.query_one(PromptArea).focus()

    def select_route(self, name: str) -> None:
        self.query_one("#route", Select).value = name

    def action_focus_routes(self) -> None:
        self.query_one("#route", Select).focus()

    async def action_send(self) -> None:
        await settle_input(self.app.focused)  # the keys typed just before ctrl+s are part of the prompt
        prompt = self.query_one(PromptArea).text.strip()
        if not prompt:
            self.notify("Write a prompt first.", severity="warning", timeout=3)
            return
        if self.running:
            self.notify("A run is in progress: wait for it, or press Esc to cancel it.", severity="warning", timeout=4)
            return
        try:
            self._run_meta = parse_meta(self.query_one("#meta", Input).value)
        except ValueError as exc:
            self.notify(str(exc), title="metadata", severity="error", timeout=6)
            return
        self._use_session(self.query_one("#session", Input).value.strip() or None)
        loaded = self.wapp.loaded
        route = self.route
        state = RunState(
            route,
            prompt,
            multi_step=len(loaded.profile.routes[route].steps) > 1,
            clock=self.wapp.clock,
            price_of=price_lookup(loaded),
            history=self.history,
        )
        self._error = None
        answer = self.query_one(AnswerView)
        answer.border_title = f"answer · {route} · turn {self.turn}"
        await answer.clear()
        state.turn = self.turn
        self.state = state
        self.query_one(Waterfall).show(state)
        self.query_one(StatusLine).show_totals(route, state.totals(), turn=self.turn)  # feedback at once
        self._worker = self._run_prompt(LiveRun(state))
        self.refresh_bindings()

    def _use_session(self, name: str | None) -> None:
        """Runs go under session `name` (None: the app's own); a session named for the first time brings its saved
        conversation, as `workbench run --session` does."""
        if name == self._session:
            return
        self._session = name
        self.history = self.wapp.session_history(name) if name else []
        self.wapp.file_runs_under(name)

    def action_cancel_run(self) -> None:
        if not self.running:
            return
        worker, live = self._worker, self._live
        if live is not None:
            live.stop()
            self.set_timer(HARD_STOP_AFTER, lambda: self._hard_cancel(worker), name="hard-cancel")
        elif worker is not None:
            worker.cancel()

    def _hard_cancel(self, worker: Worker[None] | None) -> None:
        if worker is not None and worker is self._worker and self.running:
            worker.cancel()

    async def action_clear(self) -> None:
        if self.running:
            self.notify("A run is in progress: press Esc to cancel it first.", severity="warning", timeout=4)
            return
        self.state = None
        self.history = []
        self.query_one(Waterfall).show(None)
        answer = self.query_one(AnswerView)
        answer.border_title = "answer"
        await answer.clear(hint=True)
        self._show_idle()

    def _show_idle(self) -> None:
        profile = self.wapp.loaded.profile
        self.query_one(StatusLine).show_idle(profile.name, len(profile.routes))

    @on(Waterfall.HopSelected)
    def _open_hop(self, event: Waterfall.HopSelected) -> None:
        from workbench.tui.screens.hop_detail import HopDetailScreen

        self.app.push_screen(HopDetailScreen(event.row))
