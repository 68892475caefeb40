"""The widgets of the TUI. They render view models; they never do I/O."""

from workbench.tui.widgets.answer import AnswerView
from workbench.tui.widgets.prompt import PromptArea
from workbench.tui.widgets.status_line import StatusLine
from workbench.tui.widgets.waterfall import Waterfall

__all__ = ["AnswerView", "PromptArea", "StatusLine", "Waterfall"]
