"""The command palette provider (ctrl+p): every action of every screen, read from the bindings themselves.

Titles say where an action lives ("compare: add column", "routes: save (diff)"). The screen on view offers its own
actions (those of the widget with the focus too) when they apply now (its `check_action`); every other screen's
actions are listed as well, and choosing one first shows that screen (the composer for "routes: …"), then runs it
there — or says why it does not apply. Views, routes and the health/help panels complete the list. Because the
entries come from the `BINDINGS`, an action added to a screen appears here (and in the help) without more code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from workbench.tui.host import workbench_app

VIEWS = {
    "playground": "Send prompts through one route",
    "compare": "One prompt through several routes side by side",
    "sessions": "Browse and search saved runs",
    "eval": "A dataset through several routes: pass rates, cost",
}
SKIP_ACTIONS = {"back", "dismiss", "app.pop_screen"}  # leaving a screen is not a command


@dataclass(frozen=True, slots=True)
class Command:
    title: str
    run: Callable[[], Any]
    help: str


def screen_name(screen: Any) -> str:
    """The palette's name for a screen: its mode (playground, compare ...), `routes` for the composer, else its
    class in words (`session run`)."""
    from workbench.tui.composer import Composer

    if isinstance(screen, Composer):
        return "routes"
    if screen.id:
        return str(screen.id)
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(screen).__name__.removesuffix("Screen")).lower()


def screen_bindings(cls: type) -> list[Binding]:
    """The described bindings a screen class offers, its composer tree's single keys included."""
    from workbench.tui.composer import Composer
    from workbench.tui.composer.screen import RouteTree

    found = [b for b in getattr(cls, "BINDINGS", []) if isinstance(b, Binding)]
    if issubclass(cls, Composer):
        found += [b for b in RouteTree.BINDINGS if isinstance(b, Binding)]
    return [b for b in found if b.description and b.action not in SKIP_ACTIONS]


def mode_screen_classes() -> dict[str, type]:
    """Each mode's screen class (the app's MODES are factories that import them on first show; the palette, opened
    after the first frame, needs their bindings)."""
    from workbench.tui.screens.compare import CompareScreen
    from workbench.tui.screens.eval import EvalScreen
    from workbench.tui.screens.playground import PlaygroundScreen
    from workbench.tui.screens.sessions import SessionsScreen

    return {"playground": PlaygroundScreen, "compare": CompareScreen, "sessions": SessionsScreen, "eval": EvalScreen}


def _label(binding: Binding) -> str:
    return binding.description[:1].lower() + binding.description[1:]


def _keys(binding: Binding) -> str:
    from workbench.tui.screens.help import key_names

    return key_names(binding.key)


class WorkbenchCommands(Provider):
    def _commands(self) -> Iterator[Command]:
        app = workbench_app(self.app)
        here = self.screen  # the screen the palette was opened over
        where = screen_name(here)
        # 1. the screen on view: its actions that apply now
        shown: set[tuple[str, str]] = set()
        for binding in screen_bindings(type(here)):
            if (where, binding.action) in shown or not applies(here, binding.action):
                continue
            shown.add((where, binding.action))
            yield Command(
                f"{where}: {_label(binding)}",
                partial(app.run_palette_action, None, binding.action),
                f"{_keys(binding)} here",
            )
        # 2. every other screen's actions: shown, then run there
        for mode, cls in [*mode_screen_classes().items(), ("routes", _composer_class())]:
            if mode == where:
                continue
            if not isinstance(cls, type):  # MODES may name a screen or a factory; workbench's are all classes
                continue
            for binding in screen_bindings(cls):
                if (mode, binding.action) in shown:
                    continue
                shown.add((mode, binding.action))
                yield Command(
                    f"{mode}: {_label(binding)}",
                    partial(app.run_palette_action, mode, binding.action),
                    f"{_keys(binding)} on the {mode} screen",
                )
        # 3. views, panels, routes
        for mode, text in VIEWS.items():
            yield Command(f"view: {mode}", partial(app.switch_mode, mode), text)
        yield Command("view: routes (composer)", app.action_routes, "Compose and edit the profile's routes")
        yield Command("view: health", app.action_health, "Per-target latency, errors and in-flight requests")
        yield Command("view: help", app.action_help, "Every key of every screen")
        for name in app.loaded.profile.routes:
            yield Command(f"route: {name}", partial(app.action_use_route, name), "Use this route in the playground")

    async def discover(self) -> Hits:
        for cmd in self._commands():
            yield DiscoveryHit(cmd.title, cmd.run, help=cmd.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in self._commands():
            score = matcher.match(cmd.title)
            if score > 0:
                yield Hit(score, matcher.highlight(cmd.title), cmd.run, help=cmd.help)


def _composer_class() -> type:
    from workbench.tui.composer import Composer

    return Composer


def applies(target: Any, action: str) -> bool:
    """Whether `action` is enabled on `target` now (its `check_action`: True runs, False/None do not)."""
    name = action.partition("(")[0].removeprefix("screen.")
    check = getattr(target, "check_action", None)
    if check is None:
        return True
    try:
        return bool(check(name, ()))
    except Exception:  # noqa: BLE001 - a check that needs parameters (or fails): let the action decide when it runs
        return True
