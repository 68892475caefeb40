"""The growing end of a streamed answer: its Markdown source as wrapped plain text, drawn through the Line API.

`AnswerView` settles the answer into Markdown widgets a block at a time; the text after the last settled block is
still changing, and showing it as Markdown would re-parse it and replace its widgets every frame (each time a
layout of the whole screen). `LiveTail` only re-wraps its few lines and repaints them. Its height is reserved in
steps (`reserve`), so a frame that adds a line or two costs no layout: only settling a block or outgrowing the
reserve does.
"""

from __future__ import annotations

import re
from typing import Unpack

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from workbench.tui.widget_options import WidgetOptions
from workbench.tui.widgets.stream_text import wrap_offsets

_ITEM = re.compile(r"([-*+]) (?=\S)")  # a top-level bullet item
_HEADING = re.compile(r"#{1,6} (?=\S)")
_BOLD = Style(bold=True)


class LiveTail(Widget, can_focus=False):
    """Plain text, wrapped to the widget's width, in a block of reserved rows (blank below the text)."""

    DEFAULT_CSS = """
    LiveTail { height: 0; }
    """

    def __init__(self, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(**kwargs)
        self.source = ""
        self._lines: list[tuple[str, bool]] = []  # wrapped rows: text, bold
        self._wrapped_at = 0  # the width `_lines` were wrapped for
        self.reserved = 0

    @property
    def rows(self) -> int:
        """Rows the text takes at the current width."""
        return len(self._lines)

    def _width(self) -> int:
        width = self.content_size.width
        if not width and isinstance(self.parent, Widget):
            width = self.parent.scrollable_content_region.width
        return max(1, width or 40)

    def _wrap(self) -> None:
        # Close to how the Markdown will look once settled, so that settling does not reshape the text: a bullet
        # item as "• " with its wrapped lines indented under its text, a heading in bold without its hashes.
        self._wrapped_at = self._width()
        self._lines = self._layout(self.source, self._wrapped_at)

    def rows_of(self, text: str) -> int:
        """Rows `text` takes in this tail at its width."""
        return len(self._layout(text, self._wrapped_at or self._width()))

    def _layout(self, text: str, width: int) -> list[tuple[str, bool]]:
        lines: list[tuple[str, bool]] = []
        if text:
            for para in text.split("\n"):
                if item := _ITEM.match(para):
                    body = para[item.end() :]
                    rows = self._rows(body, width - 2)
                    lines += [("• " + rows[0], False), *(("  " + row, False) for row in rows[1:])]
                elif heading := _HEADING.match(para):
                    lines += [(row, True) for row in self._rows(para[heading.end() :], width)]
                else:
                    lines += [(row, False) for row in self._rows(para, width)]
        return lines

    @staticmethod
    def _rows(para: str, width: int) -> list[str]:
        starts = wrap_offsets(para, 0, width)
        return [para[a:b].rstrip() for a, b in zip(starts, [*starts[1:], len(para)], strict=True)]

    def set_text(self, text: str) -> int:
        """Show `text` (wrapping all of it: it is a few lines); returns the rows it takes."""
        self.source = text
        before = self._lines
        self._wrap()
        # Repaint (no layout) only the rows that changed: text grows at the end, so usually the last row or two.
        first = next((i for i, (a, b) in enumerate(zip(before, self._lines, strict=False)) if a != b), None)
        if first is None:
            first = min(len(before), len(self._lines))
        last = max(len(before), len(self._lines))
        if last > first:
            self.refresh(Region(0, first, self.size.width, last - first))
        return self.rows

    def reserve(self, rows: int) -> None:
        """Make the widget `rows` tall (a layout, only when that changes)."""
        if rows != self.reserved:
            self.reserved = rows
            self.styles.height = rows

    def on_resize(self) -> None:
        if self._width() != self._wrapped_at:
            self._wrap()
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        style = self.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, style)
        line, bold = self._lines[y]
        return Strip([Segment(line, style + _BOLD if bold else style)]).crop_extend(0, width, style)
