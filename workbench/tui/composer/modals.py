"""The composer's dialogs: the diff before saving, a name, a choice from a list, and the new provider / new model
forms (validated as you type with `profile check`'s messages, through a dry run of the same ProfileEditor edit)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def key_problem(text: str) -> str | None:
    """A message when what was typed as an environment variable's NAME looks like a key itself (never echoed)."""
    text = text.strip()
    if not text:
        return None
    lower = sum(c.islower() for c in text)
    digits = sum(c.isdigit() for c in text)
    if not _ENV_NAME.match(text) or (len(text) >= 20 and lower >= 4 and digits >= 2):
        return (
            "api_key_env: this looks like a key. Write the NAME of the environment variable that holds it"
            " (e.g. OPENAI_API_KEY); the key itself stays in your environment, never in the profile"
        )
    return None


class ConfirmDiff(ModalScreen[str]):
    """The diff of the profile file, then: save, save as, or cancel (and reload/overwrite if it changed on disk)."""

    BINDINGS = [Binding("escape", "dismiss('cancel')", "Cancel")]
    DEFAULT_CSS = """
    ConfirmDiff { align: center middle; }
    ConfirmDiff > Vertical { width: 90%; height: 80%; border: thick $accent; background: $surface; padding: 0 1; }
    ConfirmDiff #diff { height: 1fr; }
    ConfirmDiff Horizontal { height: auto; }
    """

    def __init__(
        self, diff: str, changed_on_disk: bool, *, title: str = "Save these changes?", primary: str = "Save"
    ) -> None:
        super().__init__()
        self.diff = diff
        self.changed_on_disk = changed_on_disk
        self.title_text = title
        self.primary = primary

    def compose(self) -> ComposeResult:
        from rich.syntax import Syntax

        with Vertical():
            title = self.title_text
            if self.changed_on_disk:
                title = "The file changed on disk since it was loaded: reload it, overwrite it, or save as a copy"
            yield Label(title, id="title")
            with VerticalScroll(id="diff"):
                yield Static(Syntax(self.diff or "(no changes)", "diff", theme="ansi_dark", word_wrap=True))
            with Horizontal():
                if self.changed_on_disk:
                    yield Button("Reload (drop my edits)", id="reload", variant="warning")
                    yield Button("Overwrite", id="overwrite", variant="error")
                else:
                    yield Button(self.primary, id="save", variant="primary")
                if self.primary == "Save":
                    yield Button("Save as copy", id="save_as")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")


class AskName(ModalScreen[str | None]):
    """One line of input (a new route name); Enter confirms, Esc cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    AskName { align: center middle; }
    AskName > Vertical { width: 60; height: auto; border: thick $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, title: str, value: str) -> None:
        super().__init__()
        self.title_text, self.value = title, value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(value=self.value, id="name")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class Pick(ModalScreen[str | None]):
    """Choose one of a few options (a step kind, a check type); arrows and Enter, or a click; Esc cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    Pick { align: center middle; }
    Pick > Vertical { width: 64; height: auto; max-height: 90%; border: thick $accent; background: $surface; }
    Pick OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, title: str, options: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.options = options  # (value, description)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield OptionList(*(Option(f"[b]{v}[/b]  [dim]{d}[/dim]", id=v) for v, d in self.options), id="pick")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class EntityForm(ModalScreen[dict[str, Any] | None]):
    """A few labelled inputs that make one new profile entry (a provider or a model). Every keystroke builds the
    entry and dry-runs it through `check` (the ProfileEditor edit that Add would make); Add applies it."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    EntityForm { align: center middle; }
    EntityForm > Vertical { width: 76; height: auto; max-height: 100%; border: thick $accent;
        background: $surface; padding: 0 1; }
    EntityForm .frow { height: 1; margin-bottom: 0; }
    EntityForm .flabel { width: 24; color: $text-muted; }
    EntityForm Input { width: 1fr; }
    EntityForm #problem { color: $error; height: auto; }
    EntityForm #problem.ok { color: $success; }
    EntityForm Horizontal.buttons { height: auto; margin-top: 1; }
    """

    def __init__(
        self,
        title: str,
        fields: list[tuple[str, str, str, str]],
        build: Callable[[dict[str, str]], tuple[str, dict[str, Any]]],
        check: Callable[[str, dict[str, Any]], str | None],
    ) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields  # (name, label, initial value, placeholder)
        self.build = build  # typed values -> (entry name, entry)
        self.check = check  # (name, entry) -> the `profile check` message, or None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{self.title_text}[/b]")
            for name, label, value, placeholder in self.fields:
                with Horizontal(classes="frow"):
                    yield Label(label, classes="flabel")
                    yield Input(value=value, placeholder=placeholder, id=f"e_{name}", compact=True)
            yield Static("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button("Add", id="add", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#e_{self.fields[0][0]}", Input).focus()
        self.validate()

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#e_{name}", Input).value.strip() for name, *_ in self.fields}

    def validate(self) -> tuple[str, dict[str, Any]] | None:
        problem = self.query_one("#problem", Static)
        try:
            name, entry = self.build(self.values())
            message = self.check(name, entry)
        except ValueError as err:
            message = str(err)
        problem.set_class(message is None, "ok")
        problem.update(message or "✓ valid: Add (or Enter) puts it in the profile")
        self.query_one("#add", Button).disabled = message is not None
        return None if message is not None else (name, entry)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self.validate()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self._add()

    @on(Button.Pressed, "#add")
    def _add(self) -> None:
        ok = self.validate()
        if ok is not None:
            self.dismiss({"name": ok[0], "entry": ok[1]})

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
