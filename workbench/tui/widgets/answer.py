"""The streamed answer: a Markdown document in a scroll view that follows new text while the reader is at the end.

It is fed whole frames (text gathered over ~60 ms), never single tokens; `Markdown.append` re-parses only the
last block. Textual then replaces that last block's widgets wholesale — for a bullet list that is every item, each
frame, so a long list cost more with every item (a 3,000-token answer is one list of ~150 items: most of the
playground's CPU). `AnswerMarkdown` keeps a growing bullet list's items: it updates the last one in place and mounts
only the new ones. (Not `anchor()`: in Textual 8 an anchored view bottom-aligns short content, and a short answer
should read from the top.)
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets._markdown import (
    MarkdownBlock,
    MarkdownBullet,
    MarkdownBulletList,
    MarkdownListItem,
    MarkdownParagraph,
)

HINT = (
    "Pick a route, write a prompt and press ctrl+s. The answer streams in here; each hop (route decision, step,"
    " attempt at a model, fallback) appears in the waterfall with its time bar, tokens and cost."
)


class GrowingBulletList(MarkdownBulletList):
    """A bullet list that, when the streamed text adds to it, keeps the items it already shows."""

    async def _update_from_block(self, block: MarkdownBlock) -> None:
        if not isinstance(block, MarkdownBulletList):
            await super()._update_from_block(block)
            return
        rows = list(self.query_children(Horizontal))
        items = [b for b in block._blocks if isinstance(b, MarkdownListItem)]
        if not rows or len(items) < len(rows):
            await super()._update_from_block(block)
            return
        # The items before the last one shown are complete (text only arrives at the end); the last one may have
        # grown: update its paragraphs in place, or rebuild that one row if its shape changed.
        last, item = rows[-1], items[len(rows) - 1]
        column = last.query_children(Vertical).first() if last.query_children(Vertical) else None
        olds = list(column.children) if column is not None else []
        news = list(item._blocks)
        if (
            column is not None
            and len(olds) <= len(news)
            and all(
                isinstance(o, MarkdownParagraph) and isinstance(n, MarkdownParagraph)
                for o, n in zip(olds, news[: len(olds)], strict=True)
            )
        ):
            # The item's text grew (often from nothing: the row was made when only "- " had arrived).
            for old, new in zip(olds, news[: len(olds)], strict=True):
                await old._update_from_block(new)
            if len(news) > len(olds):
                await column.mount_all(news[len(olds) :])
        else:
            await last.remove()
            await self.mount(self._row(item))
        if len(items) > len(rows):
            await self.mount_all([self._row(i) for i in items[len(rows) :]])

    @staticmethod
    def _row(item: MarkdownListItem) -> Horizontal:
        bullet = MarkdownBullet()
        bullet.symbol = item.bullet
        return Horizontal(bullet, Vertical(*item._blocks))


class AnswerMarkdown(Markdown):
    """Textual's Markdown, with bullet lists that grow by their new items (see `GrowingBulletList`)."""

    BLOCKS: dict[str, Any] = {**Markdown.BLOCKS, "bullet_list_open": GrowingBulletList}


CHUNK_LINES = 12  # source lines a chunk gathers before the next safe cut starts a new one
_FENCE = re.compile(r"^(```|~~~)", re.M)


def cut_point(source: str, text: str, min_lines: int = CHUNK_LINES) -> tuple[int, bool] | None:
    """Where in `text` (about to be appended to `source`, a chunk's Markdown) a new chunk may begin without
    changing how the whole renders, and whether the cut splits a bullet list. A cut starts a line that is either
    the next item of a tight top-level bullet list or a paragraph after a blank line, never inside a code fence,
    and only once the chunk holds `min_lines` lines. None when there is no such place yet."""
    if source.count("\n") + text.count("\n") < min_lines:
        return None
    whole = source + text
    fenced = len(_FENCE.findall(source)) % 2 == 1
    lines = source.count("\n")
    pos = len(source)
    start = whole.rfind("\n", 0, pos) + 1 if pos else 0  # start of the line `text` continues
    while True:
        nl = whole.find("\n", start)
        if nl < 0:
            return None
        line = whole[start:nl]
        if _FENCE.match(line):
            fenced = not fenced
        begin = nl + 1
        if begin >= pos:
            lines += 1
        head = whole[begin : begin + 2]
        if begin > pos and len(head) == 2 and not fenced and lines >= min_lines:
            if head in ("- ", "* ", "+ ") and line.startswith(head):
                return begin - len(source), True
            if line == "" and whole[begin - 2 : begin] == "\n\n" and head[0].isalnum():
                return begin - len(source), False
        start = begin


class AnswerView(VerticalScroll):
    """Shows the answer of the current run.

    The answer is a column of Markdown chunks: text goes to the last one, and once it holds a dozen lines a new one
    starts at the next place where a cut cannot change the rendering (see `cut_point`). A finished chunk is never
    touched again, so each frame lays out the chunk that grows, not a document that grows with every paragraph.
    """

    DEFAULT_CSS = """
    AnswerView AnswerMarkdown.-list-continues > MarkdownBulletList:last-child { margin-bottom: 0; }
    """

    chunk_lines = CHUNK_LINES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = asyncio.Lock()  # the frame timer and the run's last frame may both be showing text

    def compose(self) -> ComposeResult:
        yield Static(HINT, id="answer-hint", markup=False)
        yield AnswerMarkdown(id="answer-text")

    @property
    def chunks(self) -> list[AnswerMarkdown]:
        return list(self.query_children(AnswerMarkdown))

    @property
    def markdown(self) -> Markdown:
        """The first chunk."""
        return self.query_one("#answer-text", Markdown)

    @property
    def text(self) -> str:
        """The Markdown source shown now."""
        return "".join(chunk.source for chunk in self.chunks)

    async def show(self, *, reset: str | None = None, append: str = "") -> None:
        """Replace the text with `reset` (when given), then add `append` at the end."""
        async with self._lock:
            await self._show(reset, append)

    async def _show(self, reset: str | None, append: str) -> None:
        follow = self.scroll_y >= self.max_scroll_y - 1  # the reader is at the end: keep them there
        self.query_one("#answer-hint").display = False
        if reset is not None:
            await self._restart()
            append = reset + append
        live = self.chunks[-1]
        while append and (cut := cut_point(live.source, append, self.chunk_lines)) is not None:
            at, in_list = cut
            await live.append(append[:at])
            live.set_class(in_list, "-list-continues")
            live = AnswerMarkdown()
            await self.mount(live)
            if not live.is_attached:  # the view is being removed (the app is closing): nothing left to show
                return
            append = append[at:]
        if append:
            await live.append(append)
        if follow:
            self.scroll_end(animate=False)

    async def _restart(self) -> None:
        chunks = self.chunks
        if len(chunks) > 1:
            await self.remove_children(chunks[1:])
        chunks[0].remove_class("-list-continues")
        await chunks[0].update("")

    async def clear(self, *, hint: bool = False) -> None:
        """Empty the view; with `hint`, show the how-to line again (idle screen)."""
        async with self._lock:
            await self._restart()
        self.query_one("#answer-hint").display = hint
        self.scroll_home(animate=False)
