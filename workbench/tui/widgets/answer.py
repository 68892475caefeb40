"""The streamed answer: a Markdown document in a scroll view that follows new text while the reader is at the end.

It is fed whole frames (text gathered over ~60 ms), never single tokens; `Markdown.append` re-parses only the
last block, so a long answer costs the same per frame as a short one. (Not `anchor()`: in Textual 8 an anchored
view bottom-aligns short content, and a short answer should read from the top.)
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

HINT = (
    "Pick a route, write a prompt and press ctrl+s. The answer streams in here; each hop (route decision, step,"
    " attempt at a model, fallback) appears in the waterfall with its time bar, tokens and cost."
)


class AnswerView(VerticalScroll):
    """Shows the answer of the current run."""

    def compose(self) -> ComposeResult:
        yield Static(HINT, id="answer-hint", markup=False)
        yield Markdown(id="answer-text")

    @property
    def markdown(self) -> Markdown:
        return self.query_one("#answer-text", Markdown)

    @property
    def text(self) -> str:
        """The Markdown source shown now."""
        return self.markdown.source

    async def show(self, *, reset: str | None = None, append: str = "") -> None:
        """Replace the text with `reset` (when given), then add `append` at the end."""
        follow = self.scroll_y >= self.max_scroll_y - 1  # the reader is at the end: keep them there
        self.query_one("#answer-hint").display = False
        md = self.markdown
        if reset is not None:
            await md.update(reset)
        if append:
            await md.append(append)
        if follow:
            self.scroll_end(animate=False)

    async def clear(self, *, hint: bool = False) -> None:
        """Empty the view; with `hint`, show the how-to line again (idle screen)."""
        await self.markdown.update("")
        self.query_one("#answer-hint").display = hint
        self.scroll_home(animate=False)
