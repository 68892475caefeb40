"""The route composer: a tree of routes → steps → branches, a flow view, and forms that edit the profile.

Every edit goes through `workbench.profiles.edit.ProfileEditor` (the same code as `workbench profile set`), so it
is validated as it is typed with `profile check`'s own messages, keeps the file's comments, and can be undone.
The edited, unsaved profile is posted as `Composer.Edited` so the playground and compare screens run it at once
("try before saving"); the title marks the profile modified. Saving shows the diff first and writes nothing
without a confirmation; a file changed on disk since it was loaded offers reload, overwrite or save-as.

Keys: enter/ctrl+s apply or save · ctrl+z undo · ctrl+y redo · [ and ] move the selected target · a add a target
· x remove it · n duplicate the route · r rename it · delete remove it · m add a model · esc back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, Static, Tree

from workbench.errors import ProfileError
from workbench.profiles.edit import ProfileEditor, parse_value
from workbench.tui.flow import route_flow, step_label

StepPath = tuple[str | int, ...]


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


class Composer(Screen[None]):
    """Compose routes: tree, flow, forms; edits validated live and tried before saving."""

    class Edited(Message):
        """The edited profile changed (or was saved): the app runs this one from now on."""

        def __init__(self, editor: ProfileEditor) -> None:
            super().__init__()
            self.editor = editor

    BINDINGS = [
        Binding("ctrl+s", "save", "Save (diff)"),
        Binding("ctrl+z", "undo", "Undo"),
        Binding("ctrl+y", "redo", "Redo"),
        Binding("left_square_bracket", "move(-1)", "Target up", show=False),
        Binding("right_square_bracket", "move(1)", "Target down", show=False),
        Binding("n", "duplicate", "Duplicate route"),
        Binding("r", "rename", "Rename route"),
        Binding("m", "add_model", "Add model", show=False),
        Binding("delete", "delete_route", "Delete route", show=False),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    Composer #tree { width: 40%; min-width: 28; border: round $primary; }
    Composer #side { border: round $primary; padding: 0 1; }
    Composer #flow { color: $text; margin-bottom: 1; }
    Composer #problem { color: $error; height: auto; }
    Composer #problem.ok { color: $success; }
    Composer Input { margin-bottom: 0; }
    Composer .hint { color: $text-muted; }
    """

    def __init__(self, editor: ProfileEditor) -> None:
        super().__init__()
        self.editor = editor
        self.selected: tuple[str, StepPath | None] | None = None  # (route, step path under `steps`)

    # -- layout -------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Tree("routes", id="tree")
            with VerticalScroll(id="side"):
                yield Static("", id="title")
                yield Static("", id="flow")
                yield Static("", id="detail")
                yield Label("targets (fallback order, comma separated)", classes="hint", id="targets_label")
                yield Input(placeholder="swift, steady", id="targets")
                yield Label("set a value: PATH = VALUE (PATH relative to the selection)", classes="hint")
                yield Input(placeholder="strong_weak.threshold = 0.6", id="setter")
                yield Static("", id="problem")
                yield Static("", id="policy")
        yield Footer()

    def on_mount(self) -> None:
        self._rebuild_tree()
        self._refresh_title()

    # -- tree ---------------------------------------------------------------------------------------------------
    def _rebuild_tree(self) -> None:
        tree: Tree[tuple[str, StepPath | None]] = self.query_one("#tree", Tree)
        tree.clear()
        tree.root.expand()
        profile = self.editor.current().profile
        for rname, route in profile.routes.items():
            node = tree.root.add(f"[b]{rname}[/b]", data=(rname, None), expand=True)
            self._add_steps(node, rname, route.steps, ())
        if self.selected is None and profile.routes:
            first = next(iter(profile.routes))
            self.selected = (first, (0,))
        self._show_selection()

    def _add_steps(self, parent: Any, rname: str, steps: list[Any], prefix: StepPath) -> None:
        for i, step in enumerate(steps):
            path = (*prefix, i)
            icon = {"route": "◇", "gate": "◆", "retrieve": "⌕", "parallel": "⇉", "transform": "ƒ"}.get(step.kind, "▸")
            if step.kind == "route":
                label = f"{icon} {step.name} [dim]({step.mode}, default {step.default})[/dim]"
            elif step.kind == "parallel":
                label = f"{icon} {step.name} [dim](merge {step.merge})[/dim]"
            else:
                label = f"{icon} {step_label(step)}"
            if step.kind not in ("route", "parallel") or (step.kind == "parallel" and not step.steps):
                parent.add_leaf(label, data=(rname, path))
                continue
            node = parent.add(label, data=(rname, path), expand=True)
            if step.kind == "route":
                for bname, bsteps in step.branches.items():
                    bnode = node.add(f"[i]{bname}[/i] ({len(bsteps)})", data=(rname, path), expand=True)
                    self._add_steps(bnode, rname, bsteps, (*path, "branches", bname))
            elif step.kind == "parallel" and step.steps:
                self._add_steps(node, rname, step.steps, (*path, "steps"))

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[Any]) -> None:
        if event.node.data is not None:
            self.selected = event.node.data
            self._show_selection()

    # -- the right-hand side ------------------------------------------------------------------------------------
    def _step(self) -> Any:
        if self.selected is None or self.selected[1] is None:
            return None
        rname, path = self.selected
        route = self.editor.current().profile.routes.get(rname)
        if route is None:
            return None
        for p, step in route.all_steps():
            if p == path:
                return step
        return None

    def _show_selection(self) -> None:
        if self.selected is None:
            return
        rname, path = self.selected
        profile = self.editor.current().profile
        route = profile.routes.get(rname)
        if route is None:
            return
        self.query_one("#flow", Static).update(f"[b]flow[/b]\n{route_flow(route)}")
        step = self._step()
        targets = self.query_one("#targets", Input)
        if step is None:
            self.query_one("#detail", Static).update(f"route [b]{rname}[/b]: {route.description or ''}")
            targets.disabled = True
            targets.value = ""
            self.query_one("#policy", Static).update("")
            return
        detail = [f"[b]{rname} › {step.name}[/b] · {step.kind} step"]
        if step.kind == "route":
            if step.rules is not None:
                for rule in step.rules:
                    detail.append(f"  rule → {rule.branch}: {rule.when.model_dump(exclude_defaults=True)}")
            if step.classifier is not None:
                detail.append(
                    f"  classifier: {step.classifier.model} (min confidence {step.classifier.min_confidence})"
                )
                for cname, cat in (step.categories or {}).items():
                    detail.append(f"  {cname}: {cat.description} → {cat.branch or cname}")
            if step.strong_weak is not None:
                sw = step.strong_weak
                detail.append(f"  strong/weak: score ≥ {sw.threshold} → {sw.strong}, else {sw.weak} ({sw.scorer})")
            detail.append(f"  default branch: {step.default}")
        elif step.kind == "gate":
            for check in step.checks:
                detail.append(f"  check {check.type}: {check.model_dump(exclude_defaults=True, exclude={'type'})}")
            detail.append(f"  on fail: {step.on_fail} (max retries {step.max_retries})")
        self.query_one("#detail", Static).update("\n".join(detail))
        has_targets = bool(getattr(step, "targets", None))
        targets.disabled = not has_targets
        if has_targets:
            targets.value = ", ".join(t.model for t in step.targets)
        self._show_policy(rname, path, step)

    def _show_policy(self, rname: str, path: StepPath | None, step: Any) -> None:
        from workbench.profiles.resolve import resolve

        if path is None:
            return
        index = 0 if getattr(step, "targets", None) else None
        resolved = resolve(self.editor.current().profile, rname, path, index)
        rows = ["[b]policy in force[/b] (first target): value ← where it is set"]
        inherited = 0
        for key, origin in resolved.origins.items():
            block, _, name = key.partition(".")
            value = getattr(getattr(resolved, block), name) if name else getattr(resolved, block)
            if origin.startswith("default"):
                inherited += 1
                continue
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            rows.append(f"  {key} = {shown}  [dim]← {origin}[/dim]")
        rows.append(f"  [dim]{inherited} more at their built-in defaults (`workbench profile explain` lists all)[/dim]")
        self.query_one("#policy", Static).update("\n".join(rows))

    def _refresh_title(self) -> None:
        mark = " ● modified" if self.editor.modified else ""
        self.query_one("#title", Static).update(f"[b]routes · {self.editor.path.name}[/b]{mark}")
        self.app.sub_title = f"{self.editor.path.name}{' (modified)' if self.editor.modified else ''}"

    def _problem(self, text: str | None) -> None:
        widget = self.query_one("#problem", Static)
        widget.set_class(text is None, "ok")
        widget.update(text if text is not None else "✓ valid")

    # -- edits --------------------------------------------------------------------------------------------------
    def _step_path(self) -> tuple[str | int, ...] | None:
        if self.selected is None or self.selected[1] is None:
            return None
        rname, path = self.selected
        return ("routes", rname, "steps", *path)

    def _edit(self, fn: Any) -> bool:
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

    def _dry_run(self, fn: Any) -> str | None:
        """Validate an edit without keeping it (validation as you type)."""
        probe = ProfileEditor(self.editor.path, self.editor.original, self.editor.text, self.editor.loaded)
        try:
            fn(probe)
        except ProfileError as err:
            return err.message
        except ValueError as err:
            return str(err)
        return None

    def _targets_value(self, text: str) -> list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]

    @on(Input.Changed, "#targets")
    def _targets_typed(self, event: Input.Changed) -> None:
        base = self._step_path()
        if base is None or event.input.disabled:
            return
        value = self._targets_value(event.value)
        self._problem(self._dry_run(lambda ed: ed.set((*base, "targets"), value)))

    @on(Input.Submitted, "#targets")
    def _targets_submitted(self, event: Input.Submitted) -> None:
        base = self._step_path()
        if base is None:
            return
        value = self._targets_value(event.value)
        current = [t.model for t in getattr(self._step(), "targets", None) or []]
        if value != current:
            self._edit(lambda: self.editor.set((*base, "targets"), value))

    def _setter_parse(self, text: str) -> tuple[tuple[str | int, ...], Any]:
        if "=" not in text:
            raise ValueError("write PATH = VALUE, e.g. strong_weak.threshold = 0.6")
        left, right = text.split("=", 1)
        rel = tuple(int(p) if p.isdigit() else p for p in left.strip().split(".") if p)
        if not rel:
            raise ValueError("the PATH before `=` is empty")
        base = self._step_path()
        if rel[0] in ("routes", "models", "providers", "policies", "sim") or base is None:
            return rel, parse_value(right.strip())
        return (*base, *rel), parse_value(right.strip())

    @on(Input.Changed, "#setter")
    def _setter_typed(self, event: Input.Changed) -> None:
        if not event.value.strip():
            self._problem(None)
            return
        try:
            path, value = self._setter_parse(event.value)
        except ValueError as err:
            self._problem(str(err))
            return
        self._problem(self._dry_run(lambda ed: ed.set(path, value)))

    @on(Input.Submitted, "#setter")
    def _setter_submitted(self, event: Input.Submitted) -> None:
        try:
            path, value = self._setter_parse(event.value)
        except ValueError as err:
            self._problem(str(err))
            return
        if self._edit(lambda: self.editor.set(path, value)):
            event.input.value = ""

    def action_move(self, delta: int) -> None:
        base = self._step_path()
        step = self._step()
        if base is None or not getattr(step, "targets", None):
            return
        n = len(step.targets)
        targets_input = self.query_one("#targets", Input)
        # move the primary down / the last up when nothing finer is selected: reorder the first pair by default
        src = 0 if delta > 0 else n - 1
        dst = min(max(src + delta, 0), n - 1)
        if src != dst:
            self._edit(lambda: self.editor.move((*base, "targets"), src, dst))
            targets_input.value = ", ".join(t.model for t in self._step().targets)

    def action_undo(self) -> None:
        if self.editor.undo():
            self._changed()

    def action_redo(self) -> None:
        if self.editor.redo():
            self._changed()

    def action_duplicate(self) -> None:
        if self.selected is None:
            return
        rname = self.selected[0]
        routes = self.editor.current().profile.routes
        new = f"{rname}-copy"
        n = 2
        while new in routes:
            new, n = f"{rname}-copy{n}", n + 1
        data = routes[rname].model_dump(mode="json", exclude_defaults=True, by_alias=True)
        if self._edit(lambda: self.editor.set(("routes", new), data)):
            self.selected = (new, (0,))
            self._show_selection()

    def action_rename(self) -> None:
        if self.selected is None:
            return
        old = self.selected[0]

        def done(new: str | None) -> None:
            if new and new != old and self._edit(lambda: self.editor.rename_route(old, new)):
                self.selected = (new, self.selected[1] if self.selected else None)
                self._rebuild_tree()

        self.app.push_screen(AskName(f"Rename route {old!r} to:", old), done)

    def action_add_model(self) -> None:
        """A new model alias on the profile's first provider, then edited like anything else (PATH = VALUE)."""
        profile = self.editor.current().profile
        provider = next(iter(profile.providers))

        def done(alias: str | None) -> None:
            if not alias:
                return
            if alias in profile.models:
                self._problem(f"models.{alias}: a model of that name exists already")
                return
            entry = {"provider": provider, "model": alias, "prices": [{"input": 0, "output": 0}]}
            if self._edit(lambda: self.editor.set(("models", alias), entry)):
                self.notify(
                    f"model {alias!r} added on provider {provider!r} at $0: set its prices and limits with"
                    f" `models.{alias}.prices = [...]`, then add it to a step's targets"
                )

        self.app.push_screen(AskName("New model alias:", ""), done)

    def action_delete_route(self) -> None:
        if self.selected is None:
            return
        rname = self.selected[0]

        def done(answer: str | None) -> None:
            if answer == "save":  # the confirm dialog's primary button
                if self._edit(lambda: self.editor.delete(("routes", rname))):
                    self.selected = None
                    self._rebuild_tree()

        self.app.push_screen(
            ConfirmDiff(
                f"- route {rname} (and all its steps)", False, title=f"Delete route {rname}?", primary="Delete"
            ),
            done,
        )

    def action_save(self) -> None:
        changed = self.editor.changed_on_disk()

        def done(answer: str | None) -> None:
            try:
                if answer == "save":
                    self.editor.save()
                elif answer == "overwrite":
                    self.editor.save(force=True)
                elif answer == "reload":
                    self.editor.reload()
                elif answer == "save_as":
                    copy = self.editor.path.with_name(self.editor.path.stem + ".edited" + self.editor.path.suffix)
                    self.editor.save(Path(copy), backup=False)
                    self.notify(f"saved as {copy}")
                    return
                else:
                    return
            except ProfileError as err:
                self._problem(err.message)
                return
            self._changed()
            self.notify("saved" if answer in ("save", "overwrite") else "reloaded from disk")

        self.app.push_screen(ConfirmDiff(self.editor.diff(), changed), done)

    def action_back(self) -> None:
        self.app.pop_screen()
