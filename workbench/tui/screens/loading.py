"""The first screen: the playground's frame, drawn before the profile and the session store are loaded.

`workbench` paints this as soon as Textual is up (it imports nothing but Textual's own widgets), then loads the
profile and opens the store in a thread; the app switches to the real playground when they are ready
(`WorkbenchApp.profile_loaded`). It is a real screen, not a blank one: the title, the route row, the prompt box,
the answer and hops panes, a status line saying what is happening, and the footer's keys.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Static


class LoadingScreen(Screen[None]):
    DEFAULT_CSS = """
    LoadingScreen #loading-controls { height: 3; }
    LoadingScreen #loading-route { width: 30; border: tall $border-blurred; color: $text-muted; }
    LoadingScreen #loading-info { padding: 1 1 0 1; color: $text-muted; }
    LoadingScreen #loading-prompt { height: 5; border: tall $border-blurred; color: $text-muted; padding: 0 1; }
    LoadingScreen #loading-work { height: 1fr; }
    LoadingScreen #loading-answer { width: 2fr; border: round $border-blurred; border-title-color: $text-muted; }
    LoadingScreen #loading-hops { width: 1fr; border: round $border-blurred; border-title-color: $text-muted; }
    LoadingScreen #loading-status { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        with Horizontal(id="loading-controls"):
            yield Static("route …", id="loading-route", markup=False)
            yield Static(f"loading profile {self.what}…", id="loading-info", markup=False)
        yield Static("Ask something (the prompt opens when the profile is loaded)", id="loading-prompt")
        with Horizontal(id="loading-work"):
            answer = Static("", id="loading-answer")
            answer.border_title = "answer"
            yield answer
            hops = Static("", id="loading-hops")
            hops.border_title = "hops"
            yield hops
        yield Static(f"loading profile {self.what}…", id="loading-status", markup=False)
        yield Footer()
