"""The workbench TUI application: screens, global keys, the engine host, settings. Deliberately small.

- `make_app(loaded, engine_factory=..., event_sink=..., db_path=...)` builds it for the CLI and the tests. Given a
  loader instead of a loaded profile (the CLI), the first frame is the loading screen (`screens/loading.py`) and the
  loader runs in a thread after it is painted; `profile_ready` is set when the playground is up.
- Screens (modes): playground, compare, sessions, eval; modals: health (ctrl+h), help (F1/?), hop detail.
- One engine per app (`EngineHost`), started after the first paint. Every engine event any screen sees goes
  through `observe`: to the session store's writer (`event_sink`) and to the health view model.
- Worker failures become toasts, never tracebacks. The theme is remembered in the user's config dir.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from workbench.errors import WorkbenchError
from workbench.tui.commands import WorkbenchCommands
from workbench.tui.engine_host import EngineFactory, EngineHost
from workbench.tui.settings import TuiSettings, load_settings, save_settings

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile
    from workbench.tui.health_model import HealthBook


def _modes() -> dict[str, Any]:
    """Each mode's screen, imported when the mode is first shown (the first frame imports none of them)."""

    def playground() -> Any:
        from workbench.tui.screens.playground import PlaygroundScreen

        return PlaygroundScreen()

    def compare() -> Any:
        from workbench.tui.screens.compare import CompareScreen

        return CompareScreen()

    def sessions() -> Any:
        from workbench.tui.screens.sessions import SessionsScreen

        return SessionsScreen()

    def eval_() -> Any:
        from workbench.tui.screens.eval import EvalScreen

        return EvalScreen()

    return {"playground": playground, "compare": compare, "sessions": sessions, "eval": eval_}


#: actions that need the profile: refused (their keys hidden) while the loading screen is up
_NEED_PROFILE = {
    "switch_mode",
    "routes",
    "health",
    "use_route",
    "compare_fault",
    "compare_repeat",
    "sessions_export",
    "command_palette",  # its commands list the profile's routes
}


class WorkbenchApp(App[None]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "workbench"
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", id="help", tooltip="Every key"),
        # f5 first: the footer shows it. Most terminals send ctrl+h as Backspace, so ctrl+h only works where keys are
        # reported unambiguously (the kitty keyboard protocol); F5 works everywhere.
        Binding("f5,ctrl+h", "health", "Health", priority=True, id="health", tooltip="Per-target health"),
        Binding("ctrl+k,f3", "switch_mode('compare')", "Compare", priority=True, id="compare"),
        Binding("ctrl+o,f4", "switch_mode('sessions')", "Sessions", priority=True, id="sessions"),
        Binding("ctrl+g,f2", "switch_mode('playground')", "Playground", priority=True, id="playground"),
        Binding(
            "ctrl+t,f7", "switch_mode('eval')", "Eval", priority=True, id="eval", tooltip="A dataset through routes"
        ),
        Binding("ctrl+e,f6", "routes", "Routes", priority=True, id="composer", tooltip="Compose and edit routes"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(
        self,
        loaded: LoadedProfile | Callable[[], LoadedProfile],
        *,
        engine_factory: EngineFactory | None = None,
        event_sink: Callable[[Any], None] | None = None,
        db_path: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        settings_file: Path | None = None,
        session_name: str | None = None,
        set_session: Callable[[str], None] | None = None,
    ) -> None:
        type(self).MODES = _modes()  # a ClassVar in Textual, filled on first use: the screens load lazily
        super().__init__()
        self.db_path = db_path
        self.clock = clock  # the waterfall's time axis (tests inject a ticking fake for deterministic frames)
        self._event_sink = event_sink
        self._engine_factory = engine_factory
        self._settings_file = settings_file
        self.settings: TuiSettings = load_settings(settings_file)
        self.editor: Any = None  # the composer's ProfileEditor, once opened
        self.session_name = session_name  # `workbench tui --session NAME`: where runs are filed by default
        self._set_session = set_session  # the store writer's: file the runs that start next under a session
        self._filing = session_name

        self.load_error: WorkbenchError | None = None  # the profile could not be loaded: the CLI prints it, exit 2
        self.profile_ready = asyncio.Event()  # set when the profile is loaded and the playground is up
        # Given a loader (the CLI), the first frame is the loading screen, and the profile is loaded in a thread
        # after it is painted; given a loaded profile (tests, serve), the playground is the first screen.
        self._loader: Callable[[], LoadedProfile] | None = loaded if callable(loaded) else None
        if not callable(loaded):
            self._adopt(loaded)
        else:
            self.title = "workbench · loading profile…"

    loaded: LoadedProfile
    profile: Any
    health: HealthBook
    engines: EngineHost

    def _adopt(self, loaded: LoadedProfile) -> None:
        from workbench.tui.health_model import HealthBook

        self.loaded = loaded
        self.profile = loaded.profile
        self.health = HealthBook()
        self.engines = EngineHost(loaded, self._engine_factory, self._engine_failed)
        self.title = f"workbench · {self.profile.name}"

    def file_runs_under(self, session: str | None) -> None:
        """File the runs that start from now on under `session` (None: the one the app was opened with)."""
        name = session or self.session_name or "default"
        if self._set_session is not None and name != (self._filing or "default"):
            self._set_session(name)
        self._filing = name

    def session_history(self, session: str) -> list[dict[str, str]]:
        """The conversation saved under `session` (empty without a database or for a new session)."""
        if self.db_path is None or not Path(self.db_path).exists():
            return []
        from workbench.cli.saving import load_history

        try:
            return load_history(self.db_path, session)
        except WorkbenchError as exc:
            self.notify(str(exc), title="session", severity="error", timeout=8)
            return []

    def _engine_failed(self, message: str, title: str) -> None:
        self.notify(message, title=title, severity="error", timeout=10)

    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        if self._loader is None:
            self.switch_mode("playground")
            self.profile_ready.set()
        else:
            from workbench.tui.screens.loading import LoadingScreen

            self.push_screen(LoadingScreen(getattr(self._loader, "what", "")))

    def on_ready(self) -> None:
        # after the first frame is on screen
        if self._loader is None:
            self.engines.start()
        else:
            self.run_worker(self._loader, thread=True, name="load-profile", group="load-profile", exit_on_error=False)

    async def profile_loaded(self, loaded: LoadedProfile) -> None:
        """The loader's profile is in: the playground replaces the loading screen, the engine starts."""
        self._adopt(loaded)
        await self.switch_mode("playground")
        self.engines.start()
        self.profile_ready.set()

    async def on_unmount(self) -> None:
        for worker in list(self.workers):
            if worker.is_running:
                worker.cancel()
        await self.workers.wait_for_complete()
        engines = getattr(self, "engines", None)  # none yet if the app closed while the profile was loading
        if engines is not None:
            await engines.close()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The key to the mode on view is left out of the footer (it would only close what is over it): the
        footer then fits 120 columns. Until the profile is loaded, what needs it is refused."""
        if action in _NEED_PROFILE and not self.profile_ready.is_set():
            return False
        if action == "switch_mode" and parameters and parameters[0] == self.current_mode:
            return len(self.screen_stack) > 1  # over a pushed screen (the composer...) it still leads back
        return True

    def switch_mode(self, mode: str) -> Any:
        """Show `mode`'s own screen. Whatever was opened over the current screen (the composer, a hop's detail, a
        modal) is closed first, so a mode never comes back with another screen on top of it and the composer is
        never stacked twice."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        return super().switch_mode(mode)

    def watch_theme(self, theme: str) -> None:
        if theme != self.settings.theme:
            self.settings = self.settings.model_copy(update={"theme": theme})
            save_settings(self.settings, self._settings_file)

    async def wait_for_engine(self) -> bool:
        return await self.engines.wait()

    def observe(self, event: Any) -> None:
        """Every engine event of every screen: saved (non-blocking queue put) and counted for health."""
        if self._event_sink is not None:
            self._event_sink(event)
        self.health.observe(event)

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "load-profile":
            if event.state == WorkerState.SUCCESS:
                # the load-profile worker returns the loader's profile (the class is not imported before it)
                await self.profile_loaded(cast("LoadedProfile", event.worker.result))
            elif event.state == WorkerState.ERROR:
                err = event.worker.error
                # a bad profile or store: the CLI prints the message after the screen closes, and exits 2
                self.load_error = (
                    err if isinstance(err, WorkbenchError) else WorkbenchError(f"{type(err).__name__}: {err}")
                )
                self.exit(return_code=2)
            return
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        if isinstance(err, WorkbenchError):
            self.notify(str(err), title=err.title, severity="error", timeout=10)
        else:
            self.notify(f"{type(err).__name__}: {err}", title="unexpected error", severity="error", timeout=10)

    # -- actions everywhere ----------------------------------------------------------------------------------
    def action_help(self) -> None:
        from workbench.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_health(self) -> None:
        from workbench.tui.screens.health import HealthScreen

        if not isinstance(self.screen, HealthScreen):
            self.push_screen(HealthScreen())

    def action_routes(self) -> Any:
        """Show the composer (one at most: under a modal, the modal closes). Returns what its mount awaits."""
        from workbench.tui.composer import Composer

        if isinstance(self.screen, Composer):
            return None
        if any(isinstance(screen, Composer) for screen in self.screen_stack):  # under a modal: back to it
            while not isinstance(self.screen, Composer):
                self.pop_screen()
            return None
        if self.editor is None:
            if self.loaded.path is None:
                self.notify("this profile was not loaded from a file: nothing to edit", severity="warning")
                return None
            from workbench.profiles.edit import ProfileEditor

            self.editor = ProfileEditor(self.loaded.path, self.loaded.text, self.loaded.text, self.loaded)
        return self.push_screen(Composer(self.editor))

    async def on_composer_edited(self, message: Any) -> None:
        """Try before saving: the edited profile is what the playground and compare run from now on."""
        editor = message.editor
        loaded = editor.current()
        if loaded.text == self.loaded.text:
            return
        self.loaded, self.profile = loaded, loaded.profile
        self.title = f"workbench · {self.profile.name}" + (" ● modified" if editor.modified else "")
        await self.engines.replace(loaded)
        # the playground offers the edited routes when it is shown again (its on_screen_resume)

    def action_use_route(self, name: str) -> None:
        from workbench.tui.screens.playground import PlaygroundScreen

        self.switch_mode("playground")
        if isinstance(self.screen, PlaygroundScreen):
            self.screen.select_route(name)

    async def run_palette_action(self, mode: str | None, action: str) -> None:
        """A palette command: run `action` on the screen on view (mode None), or show `mode`'s screen (`routes`:
        the composer) and run it there if it applies now; say so when it does not."""
        from workbench.tui.commands import applies, screen_name

        if mode == "routes":
            mounted = self.action_routes()
            if mounted is not None:
                await mounted
        elif mode is not None:
            await self.switch_mode(mode)
        screen = self.screen
        if mode is not None and screen_name(screen) != mode:
            return  # the composer could not open (it said why)
        if not applies(screen, action):
            self.notify(f"{screen_name(screen)}: not available now ({action})", severity="warning", timeout=4)
            return
        await self.run_action(action, screen)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Screenshots (the palette's "Screenshot", the screenshot action) go to the workbench data directory,
        created when needed, unless a path is given: Textual's default (~/Downloads) may not exist. Textual's
        notification names the file it wrote."""
        if path is None:
            from workbench.locations import data_dir

            folder = data_dir() / "screenshots"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = str(folder)
        return super().deliver_screenshot(filename, path, time_format)


def make_app(
    loaded: LoadedProfile | Callable[[], LoadedProfile],
    *,
    engine_factory: EngineFactory | None = None,
    event_sink: Callable[[Any], None] | None = None,
    db_path: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    settings_file: Path | None = None,
    session_name: str | None = None,
    set_session: Callable[[str], None] | None = None,
) -> WorkbenchApp:
    """Build the app for a loaded profile, or for a loader (called in a thread after the first frame); the CLI
    and the tests share this factory."""
    return WorkbenchApp(
        loaded,
        engine_factory=engine_factory,
        event_sink=event_sink,
        db_path=db_path,
        clock=clock,
        settings_file=settings_file,
        session_name=session_name,
        set_session=set_session,
    )
