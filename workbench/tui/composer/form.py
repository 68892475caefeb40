"""The composer's form widget: lays out the `Row`s of the selected node (see `fields.py`) as inputs.

The form only draws: a field's input posts the ordinary `Input.Changed` / `Input.Submitted` / `Input.Blurred`
(a template's text area posts `FieldText.Done` when it loses focus), item buttons post `ItemAction`, and the
composer screen validates and applies them through the ProfileEditor. When an edit leaves the form's shape
unchanged the values are refreshed in place (focus and scroll stay); otherwise the form is rebuilt and the focus
goes back to the field of the same path.
"""

from __future__ import annotations

from typing import Any, Unpack

from rich.text import Text
from textual import on
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Collapsible, Input, Label, Static, TextArea

from workbench.tui.composer.fields import Path_, Row
from workbench.tui.widget_options import WidgetOptions

SINGULAR = {"targets": "target", "checks": "check", "rules": "rule", "categories": "category", "prices": "price"}


class FieldInput(Input):
    """One value of the form (one line of YAML); empty means not written here: inherited."""

    def __init__(self, row: Row, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(value=row.text, placeholder=row.placeholder, compact=True, **kwargs)
        self.row = row
        hint = [row.help] if row.help else []
        if row.choices:
            hint.append("one of: " + ", ".join(row.choices))
        hint.append(f"in force when empty: {row.placeholder}")
        self.tooltip = "\n".join(hint)


class FieldText(TextArea):
    """A multi-line value (a template); applied when it loses focus."""

    class Done(Message):
        def __init__(self, field: FieldText) -> None:
            super().__init__()
            self.field = field

    def __init__(self, row: Row, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(row.text, soft_wrap=True, show_line_numbers=False, compact=True, **kwargs)
        self.row = row

    def on_blur(self) -> None:
        self.post_message(self.Done(self))


def text_label(row: Row) -> Text:
    """The title line of a multi-line field: where its value comes from. The placeholder (what is in force when
    nothing is written) is shown only when nothing is, as an input shows its placeholder: a written prompt is not
    `none · default`."""
    label = Text(row.label)
    if row.text:
        label.append("  written here", style="dim")
    else:
        label.append(f"  {row.placeholder}", style="dim")
    return label


class ItemAction(Message):
    """Move an item of a list up/down, remove it, or add one to the list at `path`."""

    def __init__(self, action: str, row: Row) -> None:
        super().__init__()
        self.action = action
        self.row = row


class ItemButton(Button):
    def __init__(self, label: str, action: str, row: Row, tooltip: str) -> None:
        super().__init__(label, compact=True, classes=f"itembtn {action}")
        self.action_name = action
        self.row = row
        self.tooltip = tooltip


class Group(Collapsible):
    """A policy block: collapsed unless something is written in it; its inputs are made when first opened (a
    step has eight blocks and some thirty policy fields: building them all would make every selection slow)."""

    def __init__(self, form: NodeForm, name: str, members: list[Row]) -> None:
        self.form = form
        self.members = members
        self.block = name
        self.built = False
        written = any(r.kind == "field" and r.text for r in members)
        super().__init__(title=self.heading(), collapsed=not written)
        if written:
            self.build(mount=False)

    def heading(self) -> str:
        written = [r.label for r in self.members if r.kind == "field" and r.text]
        return f"{self.block}" + (f"  ● {', '.join(written)}" if written else "  · inherited")

    def build(self, mount: bool = True) -> None:
        if self.built:
            return
        self.built = True
        widgets = [w for r in self.members for w in self.form._row(r)]
        if mount:
            self.query_one(Collapsible.Contents).mount_all(widgets)
        else:
            self._contents_list.extend(widgets)


class NodeForm(Vertical):
    """The fields of the selected node."""

    DEFAULT_CSS = """
    NodeForm { height: auto; }
    NodeForm .frow { height: 1; }
    NodeForm .flabel { width: 22; color: $text-muted; }
    NodeForm .flabel.set { color: $text; text-style: bold; }
    NodeForm FieldInput { width: 1fr; }
    NodeForm FieldText { height: 4; }
    NodeForm .ferror { color: $error; height: auto; padding-left: 2; }
    NodeForm .ftlabel { color: $text-muted; }
    NodeForm .fheading { margin-top: 1; }
    NodeForm .d1 { padding-left: 2; }
    NodeForm .d2 { padding-left: 4; }
    NodeForm .d3 { padding-left: 6; }
    NodeForm .fitem { width: 1fr; color: $accent; }
    NodeForm .itembtn { min-width: 3; margin-left: 1; }
    NodeForm .fadd { margin-left: 2; }
    NodeForm Collapsible { padding-bottom: 0; border-top: none; }
    NodeForm Collapsible > Contents { padding-left: 0; }
    """

    def __init__(self, **kwargs: Unpack[WidgetOptions]) -> None:
        super().__init__(**kwargs)
        self.rows: list[Row] = []
        self.generation = 0
        self.fields: dict[Path_, FieldInput | FieldText] = {}
        self.errors: dict[Path_, Static] = {}
        self.next_focus: Path_ | None = None  # after the next rebuild, focus this field (else the same path)
        self.groups: dict[str, Group] = {}
        self.text_labels: dict[Path_, Label] = {}  # the title line of each multi-line field

    @staticmethod
    def shape(rows: list[Row]) -> list[tuple[Any, ...]]:
        return [(r.kind, r.path, r.multiline, r.label, r.count) for r in rows]

    def show(self, rows: list[Row], keep: dict[Path_, str]) -> None:
        """Show these rows; `keep` holds values typed but not applied (invalid) that must not be overwritten."""
        if self.rows and self.shape(rows) == self.shape(self.rows):
            self.rows = rows
            for row in rows:
                widget = self.fields.get(row.path)
                if widget is None or row.path in keep:
                    continue
                widget.row = row
                if isinstance(widget, FieldInput):
                    with widget.prevent(Input.Changed):
                        if widget.value != row.text:
                            widget.value = row.text
                        widget.placeholder = row.placeholder
                elif widget.text != row.text and not widget.has_focus:
                    widget.load_text(row.text)
                self._mark(row)
            for group in self.groups.values():
                group.members = [r for r in rows if r.group == group.block]
                group.title = group.heading()
            if self.next_focus in self.fields:
                self.fields[self.next_focus].focus()
            self.next_focus = None
            return
        focused = self.app.focused
        refocus = focused.row.path if isinstance(focused, FieldInput | FieldText) else None
        refocus, self.next_focus = self.next_focus or refocus, None
        self.rows = rows
        self.generation += 1
        self.fields, self.errors, self.groups, self.text_labels = {}, {}, {}, {}
        self.remove_children()
        self.mount_all(self._widgets(rows))
        if refocus is not None and refocus in self.fields:
            self.call_after_refresh(self.fields[refocus].focus)

    def _widgets(self, rows: list[Row]) -> list[Widget]:
        out: list[Widget] = []
        i = 0
        while i < len(rows):
            row = rows[i]
            if row.group:
                j = i
                while j < len(rows) and rows[j].group == row.group:
                    j += 1
                group = Group(self, row.group, rows[i:j])
                self.groups[row.group] = group
                out.append(group)
                i = j
                continue
            out.extend(self._row(row))
            i += 1
        return out

    def reveal(self, path: Path_) -> bool:
        """Open the policy block holding the field at `path` (its inputs are made when first opened)."""
        for group in self.groups.values():
            if any(r.path == path for r in group.members):
                group.collapsed = False
                group.build()
                return True
        return False

    @on(Collapsible.Expanded)
    def _expanded(self, event: Collapsible.Expanded) -> None:
        if isinstance(event.collapsible, Group):
            event.collapsible.build()

    def _next_id(self) -> str:
        self._n = getattr(self, "_n", 0) + 1
        return f"g{self.generation}-{self._n}"

    def _row(self, row: Row) -> list[Widget]:
        depth = sum(1 for p in row.path if isinstance(p, int))
        level = min(max(depth - (1 if row.path[:1] == ("routes",) else 0), 0), 3)
        indent = f" d{level}"
        if row.kind == "heading":
            return [Static(f"[b]{row.label}[/b] [dim]{row.help}[/dim]", classes="fheading")]
        if row.kind == "item":
            kind = str(row.path[-2])
            what = SINGULAR.get(kind, "item")
            widgets: list[Widget] = [Label(f"#{row.index + 1} {row.label}", classes="fitem" + indent)]
            if isinstance(row.path[-1], int):
                widgets += [
                    ItemButton("↑", "up", row, f"move this {what} up (ctrl+up)"),
                    ItemButton("↓", "down", row, f"move this {what} down (ctrl+down)"),
                ]
            widgets.append(ItemButton("✕", "remove", row, f"remove this {what} (ctrl+r)"))
            return [Horizontal(*widgets, classes="frow")]
        if row.kind == "add":
            kind = str(row.path[-1])
            return [ItemButton(f"+ add {SINGULAR.get(kind, kind)}", "add", row, f"add a {SINGULAR.get(kind, kind)}")]
        label = Label(row.label, classes="flabel" + indent + (" set" if row.text else ""))
        error = Static("", classes="ferror")
        error.display = False
        self.errors[row.path] = error
        if row.multiline:
            area = FieldText(row, id=self._next_id())
            self.fields[row.path] = area
            title = Label(text_label(row), classes="ftlabel" + indent)
            self.text_labels[row.path] = title
            return [title, area, error]
        field = FieldInput(row, id=self._next_id())
        self.fields[row.path] = field
        return [Horizontal(label, field, classes="frow"), error]

    def _mark(self, row: Row) -> None:
        widget = self.fields.get(row.path)
        if widget is None or widget.parent is None:
            return
        for label in widget.parent.query(".flabel"):
            label.set_class(bool(row.text), "set")
        title = self.text_labels.get(row.path)
        if title is not None:
            title.update(text_label(row))

    def set_error(self, path: Path_, message: str | None) -> None:
        error = self.errors.get(path)
        if error is None:
            return
        error.display = message is not None
        error.update(message or "")

    @on(Button.Pressed, ".itembtn")
    def _item(self, event: Button.Pressed) -> None:
        event.stop()
        assert isinstance(event.button, ItemButton)
        self.post_message(ItemAction(event.button.action_name, event.button.row))
