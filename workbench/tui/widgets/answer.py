"""The streamed answer: Markdown settled a block at a time, and the still-growing end as plain text.

It is fed whole frames (text gathered over ~80 ms), never single tokens. Rendering the growing answer as Markdown
each frame was most of the playground's CPU: Textual's `Markdown.append` re-parses the last block and replaces its
widgets, and every change of height lays out the whole screen (whose cost grows with every widget the answer
holds). So the view is a column of Markdown chunks, each mounted once with text that can no longer change, above a
`LiveTail` holding the rest as wrapped plain text in reserved rows. A frame re-wraps the tail and repaints it; only
when the tail outgrows its rows does the text up to the last safe cut (see `cuts`) settle into a new chunk — one
parse and one layout per chunk, not per frame. When the run ends (`finish`) the tail settles too, so the finished
answer is all Markdown and looks exactly as if rendered at once. (Not `anchor()`: in Textual 8 an anchored view
bottom-aligns short content, and a short answer should read from the top.)
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Unpack

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

from workbench.tui.widget_options import WidgetOptions
from workbench.tui.widgets.answer_tail import LiveTail

HINT = (
    "Pick a route, write a prompt and press ctrl+s. The answer streams in here; each hop (route decision, step,"
    " attempt at a model, fallback) appears in the waterfall with its time bar, tokens and cost."
)

TAIL_ROWS = 64  # rows the plain tail may fill before the text up to its last safe cut settles into Markdown
FOLLOW_AHEAD = 16  # rows of blank reserve a followed scroll shows below the text (at most a third of the view)
_FENCE = re.compile(r"^(```|~~~)", re.M)


class AnswerMarkdown(Markdown):
    """One settled chunk of the answer (its text never changes once mounted)."""


def cuts(text: str) -> Iterator[tuple[int, bool]]:
    """The places in `text` (Markdown starting at a block boundary) where a new chunk may begin without changing
    how the whole renders, and whether each splits a bullet list. A cut starts a line that is either the next item
    of a tight top-level bullet list or a paragraph after a blank line, and is never inside a code fence. The text
    before a cut can no longer change however the answer goes on."""
    fenced = False
    start = 0
    while (nl := text.find("\n", start)) >= 0:
        line = text[start:nl]
        if _FENCE.match(line):
            fenced = not fenced
        begin = nl + 1
        head = text[begin : begin + 2]
        if len(head) == 2 and not fenced:
            if head in ("- ", "* ", "+ ") and line.startswith(head):
                yield begin, True
            elif line == "" and begin >= 2 and text[begin - 2 : begin] == "\n\n" and head[0].isalnum():
                yield begin, False
        start = begin


def last_cut(text: str) -> tuple[int, bool] | None:
    """The last of `cuts(text)`, or None."""
    found = None
    for found in cuts(text):  # noqa: B007
        pass
    return found


class AnswerView(VerticalScroll):
    """Shows the answer of the current run: settled Markdown chunks, then the live tail (see the module's doc)."""

    DEFAULT_CSS = """
    AnswerView AnswerMarkdown.-list-continues > MarkdownBulletList:last-child { margin-bottom: 0; }
    """

    tail_rows = TAIL_ROWS

    def __init__(self, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(**kwargs)
        self._lock = asyncio.Lock()  # the frame timer and the run's last frame may both be showing text
        self._pending = False  # a scroll following the end waits for the next refresh

    def compose(self) -> ComposeResult:
        yield Static(HINT, id="answer-hint", markup=False)
        yield LiveTail(id="answer-tail")

    @property
    def chunks(self) -> list[AnswerMarkdown]:
        return list(self.query_children(AnswerMarkdown))

    @property
    def tail(self) -> LiveTail:
        return self.query_one("#answer-tail", LiveTail)

    @property
    def text(self) -> str:
        """The Markdown source shown now (settled and live)."""
        return "".join(chunk.source for chunk in self.chunks) + self.tail.source

    async def show(self, *, reset: str | None = None, append: str = "") -> None:
        """Replace the text with `reset` (when given), then add `append` at the end."""
        async with self._lock:
            await self._show(reset, append)

    async def finish(self) -> None:
        """The answer is complete: settle the live tail into Markdown."""
        async with self._lock:
            follow = self._at_end()
            tail = self.tail
            if tail.source:
                await self._settle(tail.source, in_list=False)
                tail.set_text("")
            tail.reserve(0)
            if follow:  # the whole answer is laid out now: end at its last row
                self._pending = True
                self.call_after_refresh(self._end)

    async def _show(self, reset: str | None, append: str) -> None:
        follow = self._at_end()
        hint = self.query_one("#answer-hint")
        if hint.display:
            hint.display = False
        if reset is not None:
            await self._restart()
            append = reset + append
        tail = self.tail
        rows = tail.set_text(tail.source + append)
        height = self.scrollable_content_region.height
        top = self.scroll_y  # of the view once this frame is shown
        if follow and tail.virtual_region.y + rows > top + height:
            top = tail.virtual_region.y + rows - height + self._ahead()
        cut = self._cut(rows, top - tail.virtual_region.y if follow else None)
        if cut is not None:
            at, in_list = cut
            text = tail.source
            gap = top - (tail.virtual_region.y + rows)  # keep the end of the text where it is on screen
            await self._settle(text[:at], in_list)
            if not self.is_attached:  # the view is being removed (the app is closing)
                return
            rows = tail.set_text(text[at:])
            if follow:
                self._pending = True
                self.call_after_refresh(self._keep_end, gap)
                follow = False
        if rows > tail.reserved:
            tail.reserve(max(self.tail_rows, rows + self.tail_rows // 2))
        if follow:
            self._pending = True
            self.call_after_refresh(self._follow)

    def _cut(self, rows: int, above: float | None) -> tuple[int, bool] | None:
        """Where the tail settles this frame, if it does. While the reader follows the end, only text that has
        scrolled out of view settles (`above`: the tail's rows above the view): every Markdown widget in view is
        drawn again each frame (Textual repaints the box around all that changed, and the waterfall beside the
        answer changes every frame), so the view shows the plain tail while text streams in. Otherwise the tail
        settles at its last cut once it holds more than `tail_rows` rows."""
        if rows <= self.tail_rows:
            return None
        if above is None:
            return last_cut(self.tail.source)
        found = None
        for cut in cuts(self.tail.source):
            if self.tail.rows_of(self.tail.source[: cut[0]]) > above:
                break
            found = cut
        return found

    async def _settle(self, text: str, in_list: bool) -> None:
        chunk = AnswerMarkdown(text)
        chunk.set_class(in_list, "-list-continues")
        await self.mount(chunk, before=self.tail)

    def _text_end(self) -> int:
        """The row just below the last row of text (the tail's blank reserved rows come after it)."""
        tail = self.tail
        return tail.virtual_region.y + tail.rows

    def _at_end(self) -> bool:
        """The reader sees the end of the text, or a scroll to follow it is still to come."""
        return self._pending or self.scroll_y >= self._text_end() - self.scrollable_content_region.height - 1

    def _end(self) -> None:
        self._pending = False
        self.scroll_end(animate=False, immediate=True)

    def _ahead(self) -> int:
        return max(1, min(FOLLOW_AHEAD, self.scrollable_content_region.height // 3))

    def _follow(self) -> None:
        self._pending = False
        # Scrolling repaints every widget in view, so it happens only when the text reaches the bottom edge, and
        # then a few rows further into the blank reserved rows: the next frames' lines appear without a scroll.
        height = self.scrollable_content_region.height
        end = self._text_end()
        if end > self.scroll_y + height:
            self.scroll_to(y=min(end - height + self._ahead(), self.max_scroll_y), animate=False)

    def _keep_end(self, gap: int) -> None:
        """After text above the view settled (its height may differ as Markdown), keep the text's end in place."""
        self._pending = False
        self.scroll_to(y=max(0, min(self._text_end() + gap, self.max_scroll_y)), animate=False)

    async def _restart(self) -> None:
        chunks = self.chunks
        if chunks:
            await self.remove_children(chunks)
        self.tail.set_text("")
        self.tail.reserve(0)

    async def clear(self, *, hint: bool = False) -> None:
        """Empty the view; with `hint`, show the how-to line again (idle screen)."""
        async with self._lock:
            await self._restart()
        self.query_one("#answer-hint").display = hint
        self.scroll_home(animate=False)
