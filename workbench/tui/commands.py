"""The command palette provider: every action of the app, titled by what it does ("route: …", "view: …")."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp


class WorkbenchCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: WorkbenchApp = self.app  # type: ignore[assignment]
        cmds: list[tuple[str, Callable[[], object], str]] = [
            ("view: playground", partial(app.switch_mode, "playground"), "Send prompts through one route"),
            ("view: compare", partial(app.switch_mode, "compare"), "One prompt through several routes side by side"),
            ("view: sessions", partial(app.switch_mode, "sessions"), "Browse and search saved runs"),
            ("view: eval", partial(app.switch_mode, "eval"), "A dataset through several routes: pass rates, cost"),
            ("view: health", app.action_health, "Per-target latency, errors and in-flight requests"),
            ("view: help", app.action_help, "Every key of every screen"),
            ("playground: new conversation", partial(app.run_action, "screen.clear"), "Clear answer and history"),
            ("compare: toggle fault on the focused column", app.action_compare_fault, "none → 503 → 429 → …"),
            ("compare: repeat ×5", app.action_compare_repeat, "Run the prompt 5 times per column"),
            ("sessions: export the selected run", app.action_sessions_export, "Write it as JSON next to the DB"),
        ]
        for name in app.loaded.profile.routes:
            cmds.append((f"route: {name}", partial(app.action_use_route, name), "Use this route in the playground"))
        return cmds

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
