"""Plain text that grows at the end, drawn through Textual's Line API: the cost of a frame is the appended tail.

A compare column's answer used to be a `Static` holding the whole text: every frame re-wrapped all of it, and
`Static.update` asked for a layout of the whole screen (six columns, every frame). `StreamText` keeps the text
wrapped into lines for the current width and, on `append`, re-wraps only from the start of the last line (greedy
word wrapping never moves an earlier break when text is added at the end). Growing adds lines to the virtual
size without a screen layout: only when the scrollbar appears does Textual lay out again (its own reactive). A
frame then repaints the lines that changed, or the visible window when it follows the end.
"""

from __future__ import annotations

import re
import time
from typing import Unpack

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from workbench.tui.widget_options import WidgetOptions

BAR_HZ = 4  # scrollbar updates a second while text streams in
_WORD = re.compile(r"\S+\s*|\s+")


def wrap_offsets(text: str, start: int, width: int) -> list[int]:
    """Greedy word wrap of `text[start:]` (one paragraph, no newlines) at `width` cells: the offsets where lines
    start. Whitespace after a word may hang past the edge (it is not drawn); a word longer than a line is folded."""
    width = max(1, width)
    starts = [start]
    used = 0
    for match in _WORD.finditer(text, start):
        word = match.group()
        bare = word.rstrip()
        need = cell_len(bare)
        if used and used + need > width:  # the word does not fit after what the line holds: break before it
            starts.append(match.start())
            used = 0
        if need > width:  # fold a word longer than a line
            cells = 0
            for i in range(match.start(), match.start() + len(bare)):
                c = cell_len(text[i])
                if cells + c > width:
                    starts.append(i)
                    cells = 0
                cells += c
            used = cells + len(word) - len(bare)
        else:
            used += cell_len(word)
    return starts


class StreamText(ScrollView, can_focus=False):
    """Wrapped plain text, appended to while a run streams; follows the end while the reader is there."""

    DEFAULT_CSS = """
    StreamText { overflow-x: hidden; overflow-y: auto; }
    """

    def __init__(self, text: str = "", **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(**kwargs)
        self._paragraphs: list[str] = [""]
        self._lines: list[tuple[int, int, int]] = [(0, 0, 0)]  # (paragraph, start, end) of each wrapped line
        self._wrap_width = 0
        self._strips: dict[int, Strip] = {}  # drawn lines by index, for the width and style in `_strip_key`
        self._strip_key: tuple[int, Style] | None = None  # (width, style) of this paint
        self._drawn_key: tuple[int, Style] | None = None  # ... of the lines in `_strips`
        self._bar_at = 0.0  # when the scrollbar last learnt the virtual size (see `_set_height`)
        self._following = False  # scrolling to the end after an append
        if text:
            self.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self._paragraphs)

    @property
    def line_count(self) -> int:
        return len(self._lines) if self.text else 0

    def _width(self) -> int:
        return max(1, self.scrollable_content_region.width or self.size.width or 40)

    # -- wrapping --------------------------------------------------------------------------------------------
    def _wrap_paragraph(self, index: int, start: int = 0) -> list[tuple[int, int, int]]:
        para = self._paragraphs[index]
        starts = wrap_offsets(para, start, self._wrap_width)
        ends = [*starts[1:], len(para)]
        return [(index, a, b) for a, b in zip(starts, ends, strict=True)]

    def _rewrap(self) -> None:
        self._wrap_width = self._width()
        self._strips.clear()
        self._lines = [line for i in range(len(self._paragraphs)) for line in self._wrap_paragraph(i)]

    # -- changing the text -------------------------------------------------------------------------------------
    def clear(self) -> None:
        self.update("")

    def update(self, text: str) -> None:
        """Replace the whole text."""
        self._paragraphs = [""]
        self._lines = [(0, 0, 0)]
        self._strips.clear()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()
        self.append(text)
        if not text:
            self._set_height(0, force=True)

    def append(self, text: str) -> None:
        """Add text at the end: only the last line onwards is wrapped again, only changed lines repaint."""
        if not text:
            return
        # Follow the end only when the reader has scrolled there: by default the view stays at the top (a column
        # is read from its beginning, and text arriving below the fold then costs no repaint at all).
        follow = self.max_scroll_y > 0 and self.is_vertical_scroll_end
        if not self._wrap_width:
            self._wrap_width = self._width()
        parts = text.split("\n")
        last = len(self._paragraphs) - 1
        first_changed = len(self._lines) - 1
        # Re-wrap the last paragraph from the start of its last line.
        para_index, line_start, _ = self._lines[-1]
        self._lines.pop()
        self._strips.pop(first_changed, None)
        self._paragraphs[last] += parts[0]
        self._lines.extend(self._wrap_paragraph(last, line_start if para_index == last else 0))
        for part in parts[1:]:
            self._paragraphs.append(part)
            self._lines.extend(self._wrap_paragraph(len(self._paragraphs) - 1))
        synced = self._set_height(len(self._lines))
        if follow and self.max_scroll_y > self.scroll_y:
            self._following = True
            self.scroll_end(animate=False, immediate=True, x_axis=False)  # repaints the window
            self._following = False
            if synced and self.show_vertical_scrollbar:
                self.vertical_scrollbar.position = self.scroll_y
        else:
            top = max(first_changed, round(self.scroll_y))
            bottom = min(len(self._lines), round(self.scroll_y) + self.scrollable_content_region.height)
            if bottom > top:  # only lines in view repaint
                self.refresh_lines(top, bottom - top)

    def _set_height(self, lines: int, *, force: bool = False) -> bool:
        """Set the virtual height; True when the scrollbar was brought up to date too."""
        size = Size(self._wrap_width or self._width(), lines)
        if size == self.virtual_size:
            return False
        # Not `self.virtual_size = size`: that reactive asks for a layout of the whole screen every frame. The
        # widget's own size does not change (its container fixes it); only the scrollbars need to know. When the
        # scrollbar appears or goes, Textual's `show_vertical_scrollbar` reactive does the one layout needed.
        height = self.scrollable_content_region.height
        crossing = (self.virtual_size.height > height) != (lines > height)
        self.set_reactive(Widget.virtual_size, size)
        # A scrollbar costs as much to draw as the text beside it: while text streams in, it learns the new size
        # at most BAR_HZ times a second (and at once when it must appear or go). `sync_scrollbar` settles it.
        now = time.monotonic()
        if force or crossing or now - self._bar_at >= 1 / BAR_HZ:
            self.sync_scrollbar(now)
            return True
        return False

    def sync_scrollbar(self, now: float | None = None) -> None:
        """Bring the scrollbar up to date with the text's size and the scroll position."""
        self._bar_at = time.monotonic() if now is None else now
        self._scroll_update(self.virtual_size)
        if self.show_vertical_scrollbar:
            self.vertical_scrollbar.position = self.scroll_y

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        # As ScrollView's, but following the end while text streams moves the scrollbar only when `append` syncs it.
        if self.show_vertical_scrollbar and not self._following:
            self.vertical_scrollbar.position = new_value
        if round(old_value) != round(new_value):
            self.refresh(self.size.region)

    # -- drawing ---------------------------------------------------------------------------------------------
    def on_resize(self) -> None:
        if self._width() != self._wrap_width:
            self._rewrap()
            self._set_height(len(self._lines) if self.text else 0, force=True)
            self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._strip_key = None  # `rich_style` walks the DOM: at most once a paint, and only if a line is drawn
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        if self._strip_key is None:
            key = (self.scrollable_content_region.width, self.rich_style)
            if key != self._drawn_key:
                self._drawn_key = key
                self._strips.clear()
            self._strip_key = key
        width, style = self._strip_key
        index = self.scroll_offset.y + y
        strip = self._strips.get(index)
        if strip is None:
            if index >= len(self._lines):
                return Strip.blank(width, style)
            para, a, b = self._lines[index]
            line = self._paragraphs[para][a:b].rstrip()
            strip = Strip([Segment(line, style)], cell_len(line)).crop_extend(0, width, style)
            self._strips[index] = strip
        return strip
