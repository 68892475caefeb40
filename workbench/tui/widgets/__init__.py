"""The widgets of the run screen: hop table, notes, streamed answer, status line. They render; they never do I/O."""

from workbench.tui.widgets.answer import AnswerView
from workbench.tui.widgets.hop_table import HopTable
from workbench.tui.widgets.notes import NotesLog
from workbench.tui.widgets.status_line import StatusLine

__all__ = ["AnswerView", "HopTable", "NotesLog", "StatusLine"]
