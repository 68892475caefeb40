"""A few lines of styled text (a column's hop summary, totals, repeat figures) that repaint without a layout.

`Static.update` asks for a layout of the whole screen on every call, whether or not the text's height changed;
six columns updating their totals 15 times a second made layout most of the app's CPU. `TextLines` wraps its
Rich `Text` lines once per change, repaints only when they differ from what is shown, and asks for a layout only
when the number of wrapped lines changes (a new hop row, a totals line that now needs two lines).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget


class TextLines(Widget):
    """Lines of Rich `Text`, word-wrapped to the widget's width; height = the wrapped line count."""

    DEFAULT_CSS = """
    TextLines { height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[Text] = []
        self._wrapped: tuple[int, list[Strip]] | None = None  # (width, strips) for the last width drawn
        self._height = 0  # lines of height kept (see `keep_height`)
        self._keep = False
        self._style: Style | None = None

    @property
    def plain(self) -> str:
        return "\n".join(line.plain for line in self._lines)

    def keep_height(self, keep: bool, lines: int = 0) -> None:
        """With `keep`, the widget never shrinks (and is at least `lines` high) until called again without it: text
        that changes every frame while a run streams then never moves what is below or above it, nor asks for a
        layout of the screen. Without it, the height follows the text again."""
        self._keep = keep
        height = max(lines, self._count()) if keep else self._count()
        if height != self._height:
            self._height = height
            self.refresh(layout=True)

    def reserve(self, sample: Sequence[Text | str]) -> None:
        """Keep the height at least what `sample` (lines shaped like those to come) takes at the current width."""
        width = self.content_size.width
        lines = [line if isinstance(line, Text) else Text(line) for line in sample]
        if width:
            console = self.app.console
            count = sum(len(line.wrap(console, width, overflow="fold")) for line in lines)
        else:
            count = len(lines)
        self.keep_height(True, count)

    def _count(self) -> int:
        width = self.content_size.width
        return len(self._strips(width)) if width else len(self._lines)

    def set_lines(self, lines: Sequence[Text | str]) -> None:
        new = [line if isinstance(line, Text) else Text(line) for line in lines]
        if new == self._lines:
            return
        self._lines = new
        self._wrapped = None
        count = self._count()
        height = max(count, self._height) if self._keep else count
        if height != self._height:
            self._height = height
            self.refresh(layout=True)
        else:
            self.refresh()

    def _strips(self, width: int) -> list[Strip]:
        if self._wrapped is not None and self._wrapped[0] == width:
            return self._wrapped[1]
        strips: list[Strip] = []
        if width > 0:
            console = self.app.console
            for line in self._lines:
                for part in line.wrap(console, width, overflow="fold"):
                    part.end = ""
                    strips.append(Strip(list(part.render(console)), part.cell_len))
        self._wrapped = (width, strips)
        return strips

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        count = len(self._strips(width))
        self._height = max(count, self._height) if self._keep else count
        return self._height

    def render_lines(self, crop: Region) -> list[Strip]:
        self._style = None  # `rich_style` walks the DOM: at most once a paint, and only if a line is drawn
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if self._style is None:
            self._style = self.rich_style
        style = self._style
        strips = self._strips(width)
        if y >= len(strips):
            return Strip.blank(width, style)
        return Strip(Segment.apply_style(strips[y], style), strips[y].cell_length).crop_extend(0, width, style)
