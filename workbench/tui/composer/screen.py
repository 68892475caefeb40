"""The composer screen: the tree (routes → steps → branches, then models, providers and profile-wide policies),
the flow of the selected route, and the form of the selected node (see `form.py`, `editing.py`).

Every edit goes through `workbench.profiles.edit.ProfileEditor` (the same code as `workbench profile set`), so it
is validated as it is typed with `profile check`'s own messages, keeps the file's comments, and can be undone.
The edited, unsaved profile is posted as `Composer.Edited` so the playground and compare screens run it at once
("try before saving"); the title marks the profile modified. Saving shows the diff first and writes nothing
without a confirmation; a file changed on disk since it was loaded offers reload, overwrite or save-as.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Input, Label, Static, Tree

from workbench.profiles.edit import ProfileEditor
from workbench.tui.composer.fields import Node, node_base, node_rows
from workbench.tui.composer.form import NodeForm
from workbench.tui.composer.structure import Structure
from workbench.tui.flow import route_flow, step_label

StepPath = tuple[str | int, ...]
ICONS = {"route": "◇", "gate": "◆", "retrieve": "⌕", "parallel": "⇉", "transform": "ƒ"}


class RouteTree(Tree[Node]):
    """The composer's tree. Its single keys add, rename, duplicate and delete: bound here rather than on the
    screen, they act only while the tree has the focus, never while the user types in the form beside it (where
    the form's scroll area, a label or a button holding the focus would otherwise turn `g` into a new gate)."""

    BINDINGS = [
        Binding("i", "screen.add_step", "Add step"),
        Binding("g", "screen.add_gate", "Add gate", show=False),
        Binding("left_square_bracket", "screen.move(-1)", "Target up", show=False),
        Binding("right_square_bracket", "screen.move(1)", "Target down", show=False),
        Binding("n", "screen.duplicate", "Duplicate route", show=False),
        Binding("r", "screen.rename", "Rename route", show=False),
        Binding("m", "screen.add_model", "Add model", show=False),
        Binding("p", "screen.add_provider", "Add provider", show=False),
        Binding("delete", "screen.delete", "Delete", show=False),
    ]


class Composer(Structure):
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
        Binding("ctrl+up", "item('up')", "Item up", show=False),
        Binding("ctrl+down", "item('down')", "Item down", show=False),
        Binding("ctrl+r", "item('remove')", "Remove item", show=False),
        Binding("escape", "back", "Back"),
    ]  # the single-key commands are the tree's (RouteTree): typed into the form, a letter is only a letter
    DEFAULT_CSS = """
    Composer #tree { width: 40%; min-width: 28; max-width: 60; border: round $primary; }
    Composer #sidecol { border: round $primary; }
    Composer #side { padding: 0 1; height: 1fr; }
    Composer #flow { color: $text; margin-bottom: 1; }
    Composer #problem { color: $error; height: auto; max-height: 5; padding: 0 1; }
    Composer #problem.ok { color: $success; }
    Composer #quick { height: auto; }
    Composer .hint { color: $text-muted; }
    """

    def __init__(self, editor: ProfileEditor) -> None:
        super().__init__()
        self.editor = editor
        self.node: Node | None = None
        self.invalid: dict[tuple[str | int, ...], str] = {}  # typed, not applied: saving waits for these
        self.pending: dict[tuple[str | int, ...], str] = {}  # what fields hold as typed (a mapping built whole)

    # `selected` is the (route, step path) view of the node kept for the tests and the app
    @property
    def selected(self) -> tuple[str, StepPath | None] | None:
        if self.node is None or self.node[0] not in ("step", "route"):
            return None
        return (self.node[1], self.node[2] if self.node[0] == "step" else None)

    @selected.setter
    def selected(self, value: tuple[str, StepPath | None] | None) -> None:
        if value is None:
            self.node = None
        else:
            self.node = ("step", value[0], value[1]) if value[1] is not None else ("route", value[0])

    # -- layout -------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal():
            yield RouteTree("profile", id="tree")
            with Vertical(id="sidecol"):
                with VerticalScroll(id="side"):
                    yield Static("", id="title")
                    yield Static("", id="flow")
                    yield Static("", id="detail")
                    with Vertical(id="quick"):
                        yield Label("fallback chain (comma separated)", classes="hint", id="targets_label")
                        yield Input(placeholder="swift, steady", id="targets", compact=True)
                    yield NodeForm(id="form")
                    yield Label("any value: PATH = VALUE (relative to the selection)", classes="hint")
                    yield Input(placeholder="strong_weak.threshold = 0.6", id="setter", compact=True)
                yield Static("", id="problem")
        yield Footer()

    def on_mount(self) -> None:
        self._rebuild_tree()
        self._refresh_title()

    # -- tree ---------------------------------------------------------------------------------------------------
    def _rebuild_tree(self) -> None:
        tree: Tree[Node] = self.query_one("#tree", Tree)
        tree.clear()
        tree.root.expand()
        profile = self.editor.current().profile
        for rname, route in profile.routes.items():
            node = tree.root.add(f"[b]{rname}[/b]", data=("route", rname), expand=True)
            self._add_steps(node, rname, route.steps, ())
        models = tree.root.add("[b]models[/b]", data=None, expand=False)
        for alias, model in profile.models.items():
            models.add_leaf(f"{alias} [dim]{model.provider}[/dim]", data=("model", alias))
        providers = tree.root.add("[b]providers[/b]", data=None, expand=False)
        for pname, provider in profile.providers.items():
            providers.add_leaf(f"{pname} [dim]{provider.kind}[/dim]", data=("provider", pname))
        tree.root.add_leaf("[b]policies[/b] [dim](profile-wide)[/dim]", data=("policies",))
        if (self.node is None or not self._exists(self.node)) and profile.routes:
            self.node = ("step", next(iter(profile.routes)), (0,))
        self._cursor_to(self.node)
        self._show_selection()

    def _cursor_to(self, wanted: Node | None) -> None:
        tree: Tree[Node] = self.query_one("#tree", Tree)
        stack = [tree.root]
        while stack:
            item = stack.pop(0)
            if item.data == wanted and item is not tree.root:
                parent = item.parent
                while parent is not None:
                    parent.expand()
                    parent = parent.parent
                self.call_after_refresh(self._move_cursor, item)
                return
            stack.extend(item.children)

    def _move_cursor(self, item: Any) -> None:
        tree: Tree[Node] = self.query_one("#tree", Tree)
        if item.tree is tree and item.line >= 0:
            tree.move_cursor(item, animate=False)

    def _add_steps(self, parent: Any, rname: str, steps: list[Any], prefix: StepPath) -> None:
        for i, step in enumerate(steps):
            path = (*prefix, i)
            icon = ICONS.get(step.kind, "▸")
            if step.kind == "route":
                label = f"{icon} {step.name} [dim]({step.mode}, default {step.default})[/dim]"
            elif step.kind == "parallel":
                label = f"{icon} {step.name} [dim](merge {step.merge})[/dim]"
            else:
                label = f"{icon} {step_label(step)}"
            data = ("step", rname, path)
            if step.kind not in ("route", "parallel") or (step.kind == "parallel" and not step.steps):
                parent.add_leaf(label, data=data)
                continue
            node = parent.add(label, data=data, expand=True)
            if step.kind == "route":
                for bname, bsteps in step.branches.items():
                    bnode = node.add(f"[i]{bname}[/i] ({len(bsteps)})", data=data, expand=True)
                    self._add_steps(bnode, rname, bsteps, (*path, "branches", bname))
            elif step.kind == "parallel" and step.steps:
                self._add_steps(node, rname, step.steps, (*path, "steps"))

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[Any]) -> None:
        if event.node.data is not None and event.node.data != self.node:
            self.node = event.node.data
            self.invalid.clear()
            self.pending.clear()
            self._problem(None)
            self._show_selection()

    # -- the right-hand side ------------------------------------------------------------------------------------
    def _exists(self, node: Node) -> bool:
        profile = self.editor.current().profile
        if node[0] == "step":
            route = profile.routes.get(node[1])
            return route is not None and any(p == node[2] for p, _ in route.all_steps())
        if node[0] == "route":
            return node[1] in profile.routes
        if node[0] in ("model", "provider"):
            return node[1] in (profile.models if node[0] == "model" else profile.providers)
        return True

    def _step(self) -> Any:
        if self.node is None or self.node[0] != "step" or not self._exists(self.node):
            return None
        return dict(self.editor.current().profile.routes[self.node[1]].all_steps())[self.node[2]]

    def select(self, node: Node) -> None:
        """Show this node's form (what a click in the tree does)."""
        self.node = node
        self.invalid.clear()
        self.pending.clear()
        self._cursor_to(node)
        self._show_selection()

    def _show_selection(self) -> None:
        if self.node is None or not self._exists(self.node):
            return
        profile = self.editor.current().profile
        kind = self.node[0]
        step = self._step()
        flow = self.query_one("#flow", Static)
        detail = self.query_one("#detail", Static)
        if kind in ("step", "route"):
            rname = self.node[1]
            route = profile.routes[rname]
            flow.update(f"[b]flow[/b]\n{route_flow(route)}")
            if step is None:
                detail.update(f"route [b]{rname}[/b] · i adds a step · n duplicates · r renames · del deletes")
            else:
                detail.update(f"[b]{rname} › {step.name}[/b] · {step.kind} step · i adds a step after it")
        else:
            flow.update("")
            name = self.node[1] if len(self.node) > 1 else "policies"
            where = {"model": "m adds a model", "provider": "p adds a provider"}.get(kind, "")
            detail.update(f"[b]{kind} {name}[/b] · {where}" if where else "[b]policies[/b] every route inherits")
        targets = self.query_one("#targets", Input)
        has_targets = bool(getattr(step, "targets", None))
        self.query_one("#quick").display = has_targets
        targets.disabled = not has_targets
        with targets.prevent(Input.Changed):
            targets.value = ", ".join(t.model for t in step.targets) if has_targets else ""
        rows = node_rows(profile, self.node, self.editor.raw(node_base(self.node)))
        form = self.query_one("#form", NodeForm)
        form.show(rows, self.invalid)

    def _refresh_title(self) -> None:
        mark = " ● modified" if self.editor.modified else ""
        self.query_one("#title", Static).update(f"[b]{self.editor.path.name}[/b]{mark}")
        self.app.sub_title = f"{self.editor.path.name}{' (modified)' if self.editor.modified else ''}"

    def _problem(self, text: str | None) -> None:
        widget = self.query_one("#problem", Static)
        widget.set_class(text is None, "ok")
        widget.update(text if text is not None else "✓ valid")

    def action_back(self) -> None:
        """Esc in the form goes back to the tree (what was typed and valid is applied); esc in the tree leaves."""
        tree = self.query_one("#tree", Tree)
        if self.focused is not None and self.focused is not tree:
            tree.focus()
            return
        self.app.pop_screen()
