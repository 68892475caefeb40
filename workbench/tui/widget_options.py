"""The keyword arguments every Textual widget takes (name, id, classes, disabled), for widgets that pass them through
to their base: `**kwargs: Unpack[WidgetOptions]` instead of `**kwargs: object`. Outside `tui.widgets`, so that the
composer using it does not import the widgets package."""

from __future__ import annotations

from typing import TypedDict


class WidgetOptions(TypedDict, total=False):
    name: str | None
    id: str | None
    classes: str | None
    disabled: bool
