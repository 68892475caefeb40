"""A compare column's fault dial as a control of its own: reachable with Tab, cycled with Enter, Space or a click.

It only shows the fault and says it was pressed (`FaultToggle.Pressed`); the compare screen owns what the faults
are and what choosing one means (the same action as the `f` key).
"""

from __future__ import annotations

from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.widgets import Static


class FaultToggle(Static, can_focus=True):
    """`fault: <name>` — Enter, Space or a click asks for the next fault."""

    DEFAULT_CSS = """
    FaultToggle { height: 1; width: 1fr; }
    FaultToggle:focus { color: $text; background: $accent 25%; text-style: bold; }
    """
    BINDINGS = [Binding("enter,space", "press", "Next fault", show=False)]

    class Pressed(Message):
        """The toggle asks for the next fault (its column is `toggle.parent`)."""

        def __init__(self, toggle: FaultToggle) -> None:
            super().__init__()
            self.toggle = toggle

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.fault = "none"

    def show(self, fault: str) -> None:
        self.fault = fault
        self.update(f"fault: {fault}  (f to change)", layout=False)  # one line, whatever the fault

    def action_press(self) -> None:
        self.post_message(self.Pressed(self))

    def on_click(self, event: Click) -> None:
        event.stop()
        self.focus()
        self.action_press()
