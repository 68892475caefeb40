"""The workbench app a screen runs in, typed: Textual types `node.app` as any `App`, and the screens need the
workbench's own state on it (engines, store, profile). One checked narrowing instead of a cast per screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App

    from workbench.tui.app import WorkbenchApp


def workbench_app(app: App[Any]) -> WorkbenchApp:
    """`app` as the WorkbenchApp it is (TypeError if a screen is hosted by another app: a programming error)."""
    from workbench.tui.app import WorkbenchApp  # here: the app module imports the screens

    if not isinstance(app, WorkbenchApp):
        raise TypeError(f"this screen runs inside the workbench app, not {type(app).__name__}")
    return app
