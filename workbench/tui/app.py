"""The workbench TUI: one screen to send a prompt through a route and watch its hops stream in.

Shape (see /work/shared/STYLE.md):
- `make_app(loaded_profile, engine_factory=...)` builds the app for the CLI and the tests alike.
- One engine per app. A long-lived task enters it after the first paint and leaves it on
  unmount, so the embedded simulator starts and stops inside one task and startup stays instant.
- Each send runs in an exclusive async worker (group "run"). It folds engine events into a `RunState` and posts
  `RunBegan`/`RunEnded`; a 16 Hz timer drains the state into the widgets (coalesced frames, never a render per
  token). Widgets never do I/O.
- Esc cancels through the engine's `CancelToken`, so the hop in flight still reports (as `cancelled`, with what
  it cost); if the engine does not wind down promptly the worker itself is cancelled, which closes the event
  iterator (`aclosing`).
- Any worker failure becomes a toast (`on_worker_state_changed`), never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Select, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from workbench.errors import EngineError, WorkbenchError
from workbench.tui.messages import RunBegan, RunEnded
from workbench.tui.runner import RunState
from workbench.tui.widgets import AnswerView, HopTable, NotesLog, StatusLine

if TYPE_CHECKING:
    from workbench.engine.run import Engine
    from workbench.profiles.load import LoadedProfile

EngineFactory = Callable[["LoadedProfile"], AsyncContextManager[Any]]
FRAME_INTERVAL = 1 / 16  # seconds between two frames while a run streams
HARD_CANCEL_AFTER = 2.0  # seconds to wait for a graceful cancel before cancelling the worker itself


def _engine(loaded: LoadedProfile) -> Engine:
    from workbench.engine.run import Engine  # lazy: the first paint does not wait for httpx, tiktoken, ...

    return Engine(loaded)


def route_options(loaded: LoadedProfile) -> list[str]:
    """The profile's routes, its default route first, then the others in file order."""
    default, _ = loaded.profile.route(None)
    return [default] + [name for name in loaded.profile.routes if name != default]


def route_summary(loaded: LoadedProfile, name: str) -> str:
    """One line about a route: its steps with their targets (primary first), its cost cap, its description."""
    route = loaded.profile.routes[name]
    steps = "; ".join(
        f"step {step.name}: {' → '.join(t.model for t in getattr(step, 'targets', None) or [])}" for step in route.steps
    )
    parts = [steps]
    if route.max_cost_usd is not None:
        parts.append(f"cap ${route.max_cost_usd}")
    if route.description:
        parts.append(route.description)
    return " · ".join(parts)


class WorkbenchApp(App[None]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "workbench"
    BINDINGS = [
        Binding("ctrl+r", "send", "Send", id="send", tooltip="Send the prompt through the selected route"),
        Binding("escape", "cancel_run", "Cancel", id="cancel", tooltip="Cancel the running run"),
        Binding("ctrl+l", "clear", "Clear", id="clear", tooltip="Clear the answer and the hop table"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (when the prompt is not focused)"),
    ]

    def __init__(
        self,
        loaded: LoadedProfile,
        *,
        engine_factory: EngineFactory | None = None,
        event_sink: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__()
        # Every engine event is also handed to the sink (the session store's writer: a non-blocking queue put).
        self._event_sink = event_sink
        self.loaded = loaded
        self.profile = loaded.profile
        self.title = f"workbench · {self.profile.name}"
        self.sub_title = self.profile.description or ""
        self._engine_factory: EngineFactory = engine_factory or _engine
        self._engine: Any = None
        self._engine_error: str | None = None
        self._engine_ready = asyncio.Event()
        self._engine_closing = asyncio.Event()
        self._engine_task: asyncio.Task[None] | None = None
        self._run_worker: Worker[None] | None = None
        self._cancel_token: Any = None
        self._state: RunState | None = None
        self._flush_lock = asyncio.Lock()
        self._ticker: Timer | None = None

    # -- layout ----------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        routes = route_options(self.loaded)
        with Horizontal(id="controls"):
            yield Select([(name, name) for name in routes], value=routes[0], allow_blank=False, id="route")
            yield Input(placeholder="Type a prompt, Enter sends", id="prompt")
        yield Static(route_summary(self.loaded, routes[0]), id="route-info", markup=False)
        yield AnswerView(id="answer")
        yield HopTable(id="hops")
        yield NotesLog(id="notes")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(AnswerView).border_title = "answer"
        self.query_one(HopTable).border_title = "hops"
        self._show_idle()
        self._ticker = self.set_interval(FRAME_INTERVAL, self._flush, pause=True, name="frames")
        self.query_one("#prompt", Input).focus()

    def on_ready(self) -> None:
        # Textual posts Ready once the first frame is on screen: only then import and start the engine (httpx, the
        # simulator, tokenizer tables), so the first paint never waits for them. A send before then waits for it.
        if self._engine_task is None:
            self._engine_task = asyncio.create_task(self._hold_engine(), name="workbench engine")

    async def on_unmount(self) -> None:
        # Stop the run first (it uses the engine's clients), then let the engine task leave its context.
        if self._run_worker is not None and self._run_worker.is_running:
            self._run_worker.cancel()
            await self._settle(self._run_worker)
        self._engine_closing.set()
        if self._engine_task is not None:
            try:
                await self._engine_task
            except asyncio.CancelledError:
                pass

    @staticmethod
    async def _settle(worker: Worker[Any]) -> None:
        try:
            await worker.wait()
        except (WorkerCancelled, WorkerFailed):
            pass

    # -- the engine ------------------------------------------------------------------------------------------
    # A plain task rather than a worker: it lives as long as the app, and `workers.wait_for_complete()` (which
    # tests and snapshots use to wait for a run) must not wait for it.
    async def _hold_engine(self) -> None:
        try:
            async with self._engine_factory(self.loaded) as engine:
                self._engine = engine
                self._engine_ready.set()
                await self._engine_closing.wait()
        except Exception as exc:
            self._engine_error = str(exc)
            title = exc.title if isinstance(exc, WorkbenchError) else "the engine failed"
            self.notify(str(exc), title=title, severity="error", timeout=10)
        finally:
            self._engine = None
            self._engine_ready.set()  # wake any run waiting for an engine that will not come

    async def wait_for_engine(self) -> bool:
        """Wait until the engine has started (True) or failed to (False)."""
        await self._engine_ready.wait()
        return self._engine is not None

    async def _get_engine(self) -> Any:
        await self._engine_ready.wait()
        if self._engine is None:
            raise EngineError(f"the engine is not running: {self._engine_error or 'it was closed'}")
        return self._engine

    # -- running ---------------------------------------------------------------------------------------------
    @property
    def run_state(self) -> RunState | None:
        """The current (or last) run as the screen sees it; None before the first send and after a clear."""
        return self._state

    @property
    def running(self) -> bool:
        return self._run_worker is not None and self._run_worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    @work(exclusive=True, group="run", exit_on_error=False, description="run a prompt through the engine")
    async def _run_prompt(self, state: RunState) -> None:
        from workbench.engine.cancel import CancelToken

        outcome, error = "error", None
        try:
            engine = await self._get_engine()
            token = self._cancel_token = CancelToken()
            self.post_message(RunBegan(state))
            # aclosing: if this task is cancelled mid-stream, the engine's generator is closed right here
            # (its finally blocks run now), not whenever the garbage collector gets to it.
            async with aclosing(engine.run(state.prompt, route=state.route, cancel=token)) as events:
                sink = self._event_sink
                async for event in events:
                    if sink is not None:
                        sink(event)
                    state.apply(event)
            finished = state.finished
            if finished is None:
                error = "the engine ended the run without reporting its result"
            else:
                outcome, error = finished.status, finished.error
        except asyncio.CancelledError:
            state.mark_cancelled()
            outcome, error = "cancelled", "the run was stopped"
            raise
        except Exception as exc:
            error = str(exc)
            raise
        finally:
            self.post_message(RunEnded(state, outcome, error))  # type: ignore[arg-type]

    @on(RunBegan)
    def _run_began(self, message: RunBegan) -> None:
        self.query_one(StatusLine).show_running(message.state.route)
        if self._ticker is not None:
            self._ticker.resume()
        self.refresh_bindings()

    @on(RunEnded)
    async def _run_ended(self, message: RunEnded) -> None:
        if self._ticker is not None:
            self._ticker.pause()
        await self._flush()
        state = message.state
        status = self.query_one(StatusLine)
        if state.finished is not None:
            status.show_finished(state.route, state.finished)
        else:
            status.show_problem(message.outcome, state.route, message.error or "")
        if message.outcome == "cancelled":
            self.notify("Run cancelled.", severity="warning", timeout=3)
        elif message.outcome == "error" and state.finished is not None:
            self.notify(message.error or "the run failed", title="run failed", severity="error", timeout=8)
        self._cancel_token = None
        self.refresh_bindings()

    async def _flush(self) -> None:
        """Apply what changed since the last frame: one table update and one Markdown append at most."""
        state = self._state
        if state is None:
            return
        async with self._flush_lock:
            frame = state.take_frame()
            if not frame:
                return
            if frame.rows or frame.notes:
                with self.batch_update():
                    self.query_one(HopTable).upsert(frame.rows)
                    self.query_one(NotesLog).add(frame.notes)
            if frame.reset is not None or frame.append:
                await self.query_one(AnswerView).show(reset=frame.reset, append=frame.append)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        if isinstance(err, WorkbenchError):
            self.notify(str(err), title=err.title, severity="error", timeout=10)
        else:
            self.notify(f"{type(err).__name__}: {err}", title="unexpected error", severity="error", timeout=10)

    # -- actions ---------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return True if self.running else None  # shown greyed out while idle
        return True

    @on(Select.Changed, "#route")
    def _route_changed(self, event: Select.Changed) -> None:
        self.query_one("#route-info", Static).update(route_summary(self.loaded, str(event.value)))

    @on(Input.Submitted, "#prompt")
    async def _prompt_submitted(self) -> None:
        await self.action_send()

    async def action_send(self) -> None:
        prompt = self.query_one("#prompt", Input).value.strip()
        if not prompt:
            self.notify("Type a prompt first.", severity="warning", timeout=3)
            return
        if self.running:
            self.notify("A run is in progress: wait for it, or press Esc to cancel it.", severity="warning", timeout=4)
            return
        route = str(self.query_one("#route", Select).value)
        state = RunState(route, prompt, multi_step=len(self.profile.routes[route].steps) > 1)
        await self._reset_view(route)
        self._state = state
        self._run_worker = self._run_prompt(state)
        self.refresh_bindings()

    def action_cancel_run(self) -> None:
        if not self.running:
            return
        worker, token = self._run_worker, self._cancel_token
        if token is not None:
            token.cancel("cancelled by user")
            self.set_timer(HARD_CANCEL_AFTER, lambda: self._hard_cancel(worker), name="hard-cancel")
        elif worker is not None:
            worker.cancel()  # still waiting for the engine: nothing to wind down

    def _hard_cancel(self, worker: Worker[None] | None) -> None:
        # Only the run that was asked to stop: a newer run started since then is left alone.
        if worker is not None and worker is self._run_worker and self.running:
            worker.cancel()

    async def action_clear(self) -> None:
        if self.running:
            self.notify("A run is in progress: press Esc to cancel it first.", severity="warning", timeout=4)
            return
        self._state = None
        await self._reset_view(None)
        self._show_idle()

    async def _reset_view(self, route: str | None) -> None:
        self.query_one(HopTable).clear()
        self.query_one(NotesLog).clear()
        answer = self.query_one(AnswerView)
        answer.border_title = "answer" if route is None else f"answer · route {route}"
        await answer.clear(hint=route is None)

    def _show_idle(self) -> None:
        self.query_one(StatusLine).show_idle(self.profile.name, len(self.profile.routes))


def make_app(
    loaded: LoadedProfile,
    *,
    engine_factory: EngineFactory | None = None,
    event_sink: Callable[[Any], None] | None = None,
) -> WorkbenchApp:
    """Build the app for a loaded profile; the CLI and the tests share this factory."""
    return WorkbenchApp(loaded, engine_factory=engine_factory, event_sink=event_sink)
