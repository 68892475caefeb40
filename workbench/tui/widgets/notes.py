"""Notes under the hop table: each decision with its reason, and why a hop did not end ok, in arrival order.

Reasons are long (a provider's error message, a fallback's why), so they wrap here rather than widening the
table. Notes are few per run, so the whole list is re-rendered when one arrives; the view keeps the newest in sight.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from workbench.tui.runner import Note

_MARK = {"decision": ("›", "$text-primary"), "error": ("✗", "$text-error"), "warning": ("!", "$text-warning")}


class NotesLog(VerticalScroll, can_focus=False):
    """Reasons behind the rows of the hop table."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._lines: list[Content] = []

    def compose(self) -> ComposeResult:
        yield Static(id="notes-text")

    @property
    def text(self) -> str:
        """The notes as plain text, one per line."""
        return "\n".join(line.plain for line in self._lines)

    def add(self, notes: Iterable[Note]) -> None:
        added = False
        for note in notes:
            mark, style = _MARK.get(note.level, ("·", ""))
            self._lines.append(Content.assemble((mark, style), " ", (note.text, style)))
            added = True
        if added:
            self._render_notes()
            self.scroll_end(animate=False)

    def clear(self) -> None:
        self._lines.clear()
        self._render_notes()

    def _render_notes(self) -> None:
        self.query_one("#notes-text", Static).update(Content("\n").join(self._lines))
        self.display = bool(self._lines)
