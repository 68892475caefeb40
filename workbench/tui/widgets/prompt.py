"""The multi-line prompt editor: a TextArea whose send key is bound on the playground screen.

Pasting keeps every line (TextArea inserts the whole pasted text). Enter makes a new line; ctrl+s sends (every
terminal delivers it in raw mode; ctrl+enter and ctrl+j also send where the terminal reports them distinctly).
"""

from __future__ import annotations

from textual.widgets import TextArea


class PromptArea(TextArea):
    """Where the prompt is written."""

    DEFAULT_CSS = """
    PromptArea { height: 5; min-height: 3; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)  # type: ignore[arg-type]
        self.border_title = "prompt"
        self.border_subtitle = "ctrl+s send · esc stop · ctrl+l new conversation"
