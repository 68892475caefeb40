"""The multi-line prompt editor: a TextArea whose send key is bound on the playground screen.

Pasting keeps every line (TextArea inserts the whole pasted text). Enter makes a new line; ctrl+s sends (every
terminal delivers it in raw mode; ctrl+enter also sends where the terminal reports it distinctly). ctrl+j is a
new line too: a terminal without bracketed paste delivers each pasted newline as ctrl+j.
"""

from __future__ import annotations

from typing import Unpack

from textual import events
from textual.widgets import TextArea

from workbench.tui.widget_options import WidgetOptions


class PromptArea(TextArea):
    """Where the prompt is written."""

    DEFAULT_CSS = """
    PromptArea { height: 5; min-height: 3; }
    """

    def __init__(self, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.border_title = "prompt"
        self.border_subtitle = "ctrl+s send · esc stop · ctrl+l new conversation"

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "ctrl+j" and not self.read_only:
            event.stop()
            event.prevent_default()
            self.replace("\n", *self.selection)
            return
        await super()._on_key(event)
