"""What the composer's keys, forms and dialogs do to the profile: every change is a ProfileEditor operation, dry-run
on a copy while it is typed (the `profile check` message under the field), applied on Enter or when the field
loses focus, undoable, and shown in the diff. Clearing a field removes the key, so the value is inherited again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from textual import on
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, TextArea

from workbench.errors import ProfileError
from workbench.profiles.edit import ProfileEditor, parse_value
from workbench.profiles.yaml_doc import DELETE
from workbench.tui.composer.fields import Node, Path_, Row, node_base
from workbench.tui.composer.form import FieldInput, FieldText, ItemAction, NodeForm
from workbench.tui.composer.modals import AskName, Pick, key_problem

Op = Callable[[ProfileEditor], Any]
CHECK_SKELETONS: dict[str, dict[str, Any]] = {
    "length": {"type": "length", "min_chars": 1},
    "contains": {"type": "contains", "text": "."},
    "forbids": {"type": "forbids", "text": "TODO"},
    "json": {"type": "json"},
    "relevance": {"type": "relevance", "threshold": 0.2},
    "pii": {"type": "pii"},
    "judge": {"type": "judge", "model": "", "rubric": "Answers the question asked."},
}


CHECK_AFTER_S = 0.15


class _EditedMessage(Protocol):
    def __call__(self, editor: ProfileEditor) -> Message: ...


class Editing(Screen[None]):
    """The base of the Composer screen (which provides the widgets, `editor`, `node` and `invalid`)."""

    editor: ProfileEditor
    node: Node | None
    invalid: dict[Path_, str]
    pending: dict[Path_, str]
    #: the message posted after each edit (`Composer.Edited`)
    Edited: ClassVar[_EditedMessage]
    #: a check of what is being typed, waiting for a pause in the typing (each check re-reads the whole profile)
    _check_timer: Timer | None = None

    if TYPE_CHECKING:  # provided by the screen

        def _problem(self, text: str | None) -> None: ...
        def _rebuild_tree(self) -> None: ...
        def _refresh_title(self) -> None: ...
        def _show_selection(self) -> None: ...
        def _step(self) -> Any: ...
        def select(self, node: Node) -> None: ...

    # -- applying -----------------------------------------------------------------------------------------------
    def _edit(self, fn: Callable[[], Any]) -> bool:
        try:
            fn()
        except ProfileError as err:
            self._problem(err.message)
            return False
        except ValueError as err:
            self._problem(str(err))
            return False
        self._problem(None)
        self._changed()
        return True

    def _changed(self) -> None:
        self._rebuild_tree()
        self._refresh_title()
        self.post_message(self.Edited(self.editor))

    def _dry_run(self, fn: Op) -> str | None:
        """Validate an edit without keeping it (validation as you type)."""
        probe = self.editor.probe()
        try:
            fn(probe)
        except ProfileError as err:
            return err.message
        except ValueError as err:
            return str(err)
        return None

    def _first_model(self, avoid: list[str] | None = None) -> str:
        models = list(self.editor.current().profile.models)
        return next((m for m in models if m not in (avoid or [])), models[0])

    # -- one field ----------------------------------------------------------------------------------------------
    def field_op(self, row: Row, text: str) -> Op | None:
        """The edit that typing `text` into `row` means, or None when nothing changes. ValueError: unusable."""
        text = text if row.multiline else text.strip()
        if text == row.text:
            return None
        path = row.path
        if path[-1] == "@mode":
            changes = self._mode_changes(path[:-1], text)
            return lambda ed: ed.apply_many(changes)
        if path[-1] == "api_key_env" and key_problem(text):
            raise ValueError(key_problem(text))
        value: Any = text if (row.is_text or row.multiline) else parse_value(text)
        item = path[:-1]
        if row.fill is not None and text and self.editor.raw(item) is None:
            whole = {**row.fill, **self._siblings(item, path), str(path[-1]): value}  # a mapping's field: a str
            return lambda ed: ed.set(item, whole)
        if row.plain_item:  # a target written as a bare alias
            alias = self.editor.raw(item)
            if path[-1] == "model":
                if not text:
                    raise ValueError(f"{'.'.join(map(str, item))}: a target needs a model alias")
                return lambda ed: ed.set(item, value)
            if not text:
                return None
            return lambda ed: ed.set(item, {"model": alias, path[-1]: value})
        if not text:
            raw = self.editor.raw(item)
            if len(item) > 2 and item[-2] == "targets" and isinstance(raw, dict):
                if set(raw) - {path[-1]} == {"model"}:  # back to the bare alias it was
                    return lambda ed: ed.set(item, raw["model"])
            keep = len(node_base(self.node)) if self.node else 1
            return lambda ed: ed.clear(path, keep=keep)
        return lambda ed: ed.set(path, value)

    def _siblings(self, parent: Path_, path: Path_) -> dict[str, Any]:
        """What the other fields of a mapping not written yet hold (typed, not applied)."""
        out: dict[str, Any] = {}
        for row in self.query_one("#form", NodeForm).rows:
            text = self.pending.get(row.path, "")
            if row.kind == "field" and row.path[:-1] == parent and row.path != path and text.strip():
                out[str(row.path[-1])] = text if (row.is_text or row.multiline) else parse_value(text.strip())
        return out

    def _mode_changes(self, base: Path_, mode: str) -> list[tuple[Path_, Any]]:
        step = self._step()
        if mode not in ("rules", "classifier", "strong_weak"):
            raise ValueError("mode: one of rules, classifier, strong_weak")
        changes: list[tuple[Path_, Any]] = [((*base, step.mode), DELETE)]
        if step.mode == "classifier":
            changes.append(((*base, "categories"), DELETE))
        branches = list(step.branches)
        other = next((b for b in branches if b != step.default), step.default)
        if mode == "rules":
            changes.append(((*base, "rules"), [{"when": {"keywords": ["help"]}, "branch": other}]))
        elif mode == "classifier":
            changes.append(((*base, "classifier"), {"model": self._first_model()}))
            changes.append(((*base, "categories"), {b: {"description": f"requests for {b}"} for b in branches}))
        else:
            changes.append(((*base, "strong_weak"), {"threshold": 0.5, "strong": other, "weak": step.default}))
        return changes

    def _field_typed(self, row: Row, text: str) -> None:
        form = self.query_one("#form", NodeForm)
        try:
            op = self.field_op(row, text)
            message = self._dry_run(op) if op is not None else None
        except ValueError as err:
            message = str(err)
        self.pending[row.path] = text
        if message is None:
            self.invalid.pop(row.path, None)
        else:
            self.invalid[row.path] = message
        form.set_error(row.path, message)
        self._problem(message)

    def _field_done(self, row: Row, text: str) -> None:
        """Enter or focus gone: validate what the field holds now, and apply it when it is valid."""
        if self._check_timer is not None:
            self._check_timer.stop()  # checked now: a check still waiting for the typing to pause is moot
            self._check_timer = None
        self._field_typed(row, text)
        if row.path in self.invalid:
            return
        op = self.field_op(row, text)
        if op is not None:
            self._edit(lambda: op(self.editor))

    def _check_later(self, check: Callable[[], None]) -> None:
        """Run a check of what is being typed once typing pauses: a check re-reads the profile (~50-150 ms), so
        doing it on every key would make typing lag. Enter, leaving the field and saving check at once."""
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(CHECK_AFTER_S, check)

    def _check_soon(self, row: Row, text: str) -> None:
        self._check_later(lambda: self._field_typed(row, text))

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FieldInput) and event.input.has_focus:  # typed, not filled in by the form
            self._check_soon(event.input.row, event.value)

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, FieldInput):
            self._field_done(event.input.row, event.value)

    @on(Input.Blurred)
    def _input_blurred(self, event: Input.Blurred) -> None:
        if isinstance(event.input, FieldInput) and event.input.is_attached:
            self._field_done(event.input.row, event.value)

    @on(TextArea.Changed)
    def _text_changed(self, event: TextArea.Changed) -> None:
        if isinstance(event.text_area, FieldText) and event.text_area.has_focus:
            self._check_soon(event.text_area.row, event.text_area.text)

    @on(FieldText.Done)
    def _text_done(self, event: FieldText.Done) -> None:
        self._field_done(event.field.row, event.field.text)

    def flush(self) -> None:
        """Apply what the focused field holds (before saving)."""
        focused = self.app.focused
        if isinstance(focused, FieldInput):
            self._field_done(focused.row, focused.value)
        elif isinstance(focused, FieldText):
            self._field_done(focused.row, focused.text)

    # -- lists: targets, checks, rules, categories, prices -------------------------------------------------------
    @on(ItemAction)
    def _item_action(self, event: ItemAction) -> None:
        self.item_action(event.action, event.row)

    def item_action(self, action: str, row: Row) -> None:
        path = row.path
        if action == "add":
            self._add_item(path)
            return
        container, key = path[:-1], path[-1]
        if action == "remove":
            self._edit(lambda: self.editor.delete(path))
        elif isinstance(key, int):
            dst = key + (-1 if action == "up" else 1)
            focused = self.app.focused
            inside = focused.row.path if isinstance(focused, FieldInput | FieldText) else ()
            form = self.query_one("#form", NodeForm)
            if inside[: len(path)] == path:  # the focus moves with its item: ctrl+up twice moves it up twice
                form.next_focus = (*container, dst, *inside[len(path) :])
            if not (0 <= dst < row.count and self._edit(lambda: self.editor.move(container, key, dst))):
                form.next_focus = None

    def action_item(self, action: str) -> None:
        """ctrl+up / ctrl+down / ctrl+r on a field: move or remove the list item it belongs to."""
        focused = self.app.focused
        if not isinstance(focused, FieldInput | FieldText):
            return
        form = self.query_one("#form", NodeForm)
        items = [r for r in form.rows if r.kind == "item" and focused.row.path[: len(r.path)] == r.path]
        if items:
            self.item_action(action, max(items, key=lambda r: len(r.path)))

    def _add_item(self, path: Path_) -> None:
        kind = path[-1]
        step = self._step()
        if kind == "targets":
            chain = [t.model for t in getattr(step, "targets", None) or []]
            self._edit(lambda: self.editor.insert(path, self._first_model(chain)))
        elif kind == "rules":
            rule = {"when": {"keywords": ["help"]}, "branch": step.default}
            self._edit(lambda: self.editor.insert(path, rule))
        elif kind == "prices":
            self._edit(lambda: self.editor.insert(path, {"input": 0, "output": 0}))
        elif kind == "categories":

            def named(name: str | None) -> None:
                if name:
                    entry = {"description": f"requests about {name}"}
                    if name not in step.branches:
                        entry["branch"] = step.default
                    self._edit(lambda: self.editor.set((*path, name), entry))

            self.app.push_screen(AskName("New category name:", ""), named)
        elif kind == "checks":

            def picked(check: str | None) -> None:
                if check:
                    skeleton = dict(CHECK_SKELETONS[check])
                    if check == "judge":
                        skeleton["model"] = self._first_model()
                    self._edit(lambda: self.editor.insert(path, skeleton))

            options = [(c, "") for c in CHECK_SKELETONS]
            self.app.push_screen(Pick("Add a check of type:", options), picked)
