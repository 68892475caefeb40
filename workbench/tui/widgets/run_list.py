"""The session browser's list of runs: a virtual list over any number of runs, drawing only the rows on screen.

Its height is the listing's total (100,000 runs scroll like 100: the scrollbar is the real position), and each
line is drawn from `RunPages`, the page cache the screen fills from the store. A line whose page is not in memory
yet is drawn as `…` and the widget posts `NeedPage` (once per page); the page after the cursor's is asked for
ahead, so paging down through a listing seldom meets a placeholder. A key press moves the cursor, scrolls, and
redraws the visible lines: the work per key does not grow with the number of runs. Never does I/O itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar, Unpack

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workbench.tui.fmt import usd
from workbench.tui.sessions_model import RunPages
from workbench.tui.widget_options import WidgetOptions

STATUS_STYLE = {"ok": "green", "error": "red", "degraded": "yellow", "cancelled": "magenta"}
STATUS_ICON = {"ok": "✓", "error": "✗", "degraded": "◐", "cancelled": "■"}


@lru_cache(maxsize=16)
def columns_for(width: int) -> tuple[tuple[str, int], ...]:
    """(column, width) for a list `width` cells wide; the prompt takes what is left. Narrow lists drop the
    date's year and the TTFT first, then the latency."""
    cols = [("when", 16), ("route", 12), ("status", 11), ("ms", 7), ("ttft", 6), ("cost", 10)]
    if width < 110:
        cols = [("when", 11), ("route", 10), ("status", 11), ("ms", 7), ("cost", 10)]
    if width < 64:
        cols = [("when", 11), ("route", 9), ("status", 11), ("cost", 10)]
    used = sum(w + 1 for _, w in cols)
    return (*cols, ("prompt", max(8, width - used)))


def header_text(width: int) -> Text:
    out = Text(style="bold")
    for name, w in columns_for(width):
        label = {"ms": "latency", "prompt": "prompt"}.get(name, name)
        right = name in ("ms", "ttft", "cost")
        out.append((label.rjust(w) if right else label.ljust(w))[:w] + " ")
    return out


_STATUS_RICH = {status: Style.parse(style) for status, style in STATUS_STYLE.items()}
_PLAIN = Style()


def _fit(value: str, width: int) -> str:
    if cell_len(value) > width:
        return set_cell_size(value, width - 1) + "…"
    return set_cell_size(value, width)


def row_segments(row: dict[str, Any], width: int) -> list[Segment]:
    """One run as a line of segments (cheaper than Rich Text: a page of lines is drawn on every page-down)."""
    out: list[Segment] = []
    for name, w in columns_for(width):
        style = _PLAIN
        if name == "when":
            when = str(row.get("started_at") or "").replace("T", " ")
            value = when[:16] if w >= 16 else when[5:16]
        elif name == "route":
            value = str(row.get("route") or "")
        elif name == "status":
            status = str(row.get("status") or "")
            value, style = f"{STATUS_ICON.get(status, '·')} {status}", _STATUS_RICH.get(status, _PLAIN)
        elif name == "ms":
            value = f"{row.get('latency_ms') or 0:,.0f}".rjust(w)
        elif name == "ttft":
            ttft = row.get("ttft_ms")
            value = ("–" if ttft is None else f"{ttft:,.0f}").rjust(w)
        elif name == "cost":
            value = ("$" + usd(row.get("cost_exact") or row.get("cost_usd") or 0)).rjust(w)
        else:
            value = " ".join(str(row.get("prompt") or "").split())
        out.append(Segment(_fit(value, w) + " ", style))
    return out


def row_text(row: dict[str, Any], width: int) -> Text:
    """The same line as Rich Text (tests, plain-text dumps)."""
    return Text.assemble(*((seg.text, seg.style or "") for seg in row_segments(row, width)))


class RunList(ScrollView, can_focus=True):
    """A cursor over `pages.total` runs, drawn from `pages`."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"run-list--cursor", "run-list--placeholder"}
    DEFAULT_CSS = """
    RunList { background: $surface; }
    RunList > .run-list--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    RunList:blur > .run-list--cursor { background: $block-cursor-blurred-background; }
    RunList > .run-list--placeholder { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    class NeedPage(Message):
        """Rows of `page` are to be drawn but not in memory (for the listing of `generation`)."""

        def __init__(self, page: int, generation: int) -> None:
            super().__init__()
            self.page = page
            self.generation = generation

    class Highlighted(Message):
        def __init__(self, index: int, row: dict[str, Any] | None) -> None:
            super().__init__()
            self.index = index
            self.row = row

    class Selected(Message):
        def __init__(self, index: int, row: dict[str, Any]) -> None:
            super().__init__()
            self.index = index
            self.row = row

    def __init__(self, pages: RunPages, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(**kwargs)
        self.pages = pages
        self.cursor = 0
        self._asked: set[tuple[int, int]] = set()  # (generation, page) posted as NeedPage, not arrived yet
        self._lines: dict[tuple[int, int, int], Strip] = {}  # (generation, index, width) -> a drawn row
        self._paint: tuple[int, Style, int] | None = None

    # -- the listing -------------------------------------------------------------------------------------------
    def reload(self, cursor: int | None = None) -> None:
        """The pages were reset (a new query, a deletion): size, cursor and lines follow them."""
        self._asked = {key for key in self._asked if key[0] == self.pages.generation}
        self._lines.clear()
        total = self.pages.total
        self.virtual_size = Size(self.size.width, total)
        self.cursor = max(0, min(self.cursor if cursor is None else cursor, total - 1))
        self._follow()
        self.refresh()
        self._highlighted()

    def page_arrived(self, page: int) -> None:
        """`page` is in `pages` now (it may be dropped again later: then it is asked for again when drawn)."""
        self._asked.discard((self.pages.generation, page))
        self.refresh()
        self._highlighted()

    @property
    def row(self) -> dict[str, Any] | None:
        return self.pages.row(self.cursor) if self.pages.total else None

    # -- drawing -----------------------------------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles and width once per paint, not once per line.
        self._paint = (self.scrollable_content_region.width, self.rich_style, self.scroll_offset.y)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width, base, scroll_y = self._paint or (
            self.scrollable_content_region.width,
            self.rich_style,
            self.scroll_offset.y,
        )
        index = scroll_y + y
        if index >= self.pages.total:
            return Strip.blank(width, base)
        row = self.pages.row(index)
        strip: Strip | None
        if row is None:
            self._ask(self.pages.page_of(index))
            placeholder = self.get_component_rich_style("run-list--placeholder")
            strip = Strip([Segment("…", placeholder)], 1).crop_extend(0, width, base).apply_style(base)
        else:
            key = (self.pages.generation, index, width)
            strip = self._lines.get(key)
            if strip is None:
                if len(self._lines) > 2_000:
                    self._lines.clear()
                segments = row_segments(row, width)
                strip = Strip(segments, sum(len(s.text) for s in segments)).crop_extend(0, width, base)
                strip = self._lines[key] = strip.apply_style(base)
        if index == self.cursor:
            cursor_style = self.get_component_rich_style("run-list--cursor")
            strip = Strip(Segment.apply_style(strip, post_style=Style(bgcolor=cursor_style.bgcolor)))
        return strip

    def _ask(self, page: int) -> None:
        key = (self.pages.generation, page)
        if key not in self._asked and 0 <= page <= self.pages.last_page:
            self._asked.add(key)
            self.post_message(self.NeedPage(page, self.pages.generation))

    def forget(self, page: int, generation: int) -> None:
        """A page could not be fetched: ask again next time it is drawn."""
        self._asked.discard((generation, page))

    # -- moving ------------------------------------------------------------------------------------------------
    def _follow(self) -> None:
        height = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def move_to(self, index: int) -> None:
        if not self.pages.total:
            return
        old = self.cursor
        self.cursor = max(0, min(index, self.pages.total - 1))
        if self.cursor == old:
            return
        top = round(self.scroll_y)
        self._follow()
        if round(self.scroll_y) == top:  # no scroll: only the two lines changed
            self.refresh_line(old - top)
            self.refresh_line(self.cursor - top)
        # Ask for the page ahead (in the direction of travel) once the cursor is past the middle of its page.
        size = self.pages.page_size
        page, at = divmod(self.cursor, size)
        ahead = page + 1 if self.cursor > old and at >= size // 2 else page - 1 if at < size // 2 else page
        if ahead != page and not self.pages.has(ahead):
            self._ask(ahead)
        self._highlighted()

    def _highlighted(self) -> None:
        self.post_message(self.Highlighted(self.cursor, self.row))

    def action_move(self, step: int) -> None:
        self.move_to(self.cursor + step)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        self.move_to(0 if where == 0 else self.pages.total - 1)

    def action_select(self) -> None:
        row = self.row
        if row is not None:
            self.post_message(self.Selected(self.cursor, row))

    def on_click(self, event: Click) -> None:
        index = round(self.scroll_y) + event.y
        if 0 <= index < self.pages.total:
            if index == self.cursor and event.chain >= 2:
                self.action_select()
            self.move_to(index)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.pages.total)
        self._follow()
