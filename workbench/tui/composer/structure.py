"""The composer's structural edits: steps added after the selection (a kind picker, or `g` for a gate), routes
duplicated, renamed and deleted, providers and models added through their forms, the quick fallback-chain input
and the `PATH = VALUE` setter, undo/redo, and saving behind a confirmed diff. Each is one ProfileEditor edit.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from textual import on
from textual.widgets import Input

from workbench.errors import ProfileError
from workbench.profiles.edit import parse_value
from workbench.profiles.steps import STEP_KINDS
from workbench.tui.composer.editing import Editing
from workbench.tui.composer.fields import Path_, node_base
from workbench.tui.composer.modals import AskName, ConfirmDiff, EntityForm, Pick, key_problem

KIND_HELP = {
    "generate": "call a model: a fallback chain of targets",
    "route": "pick a branch by rules, a classifier or a strong/weak score",
    "retrieve": "top-k documents from a local folder into the context",
    "gate": "check the previous output; retry, fall back, fail or warn",
    "parallel": "several targets at once, then merge",
    "transform": "render a template, no model call",
}


class Structure(Editing):
    """Steps, routes, models and providers; undo, redo and save (the base of the Composer screen)."""

    # -- steps ----------------------------------------------------------------------------------------------------
    def _skeleton(self, kind: str, name: str) -> dict[str, Any]:
        model = self._first_model()
        if kind == "generate":
            return {"name": name, "targets": [model]}
        if kind == "gate":
            return {"name": name, "kind": "gate", "checks": [{"type": "length", "min_chars": 1}]}
        if kind == "route":
            return {
                "name": name,
                "kind": "route",
                "rules": [{"when": {"keywords": ["help"]}, "branch": "main"}],
                "default": "main",
                "branches": {"main": [{"name": f"{name}-main", "targets": [model]}]},
            }
        if kind == "retrieve":
            return {"name": name, "kind": "retrieve", "corpus": "docs"}
        if kind == "parallel":
            return {"name": name, "kind": "parallel", "targets": [model, self._first_model([model])], "merge": "all"}
        return {"name": name, "kind": "transform", "template": "{{ input }}"}

    def add_step(self, kind: str) -> bool:
        """Insert a new step of `kind` after the selected step (at the end of a selected route)."""
        if self.node is None or self.node[0] not in ("step", "route"):
            self._problem("select a route or a step first: the new step goes after it")
            return False
        rname = self.node[1]
        route = self.editor.current().profile.routes[rname]
        names = {s.name for _, s in route.all_steps()}
        name, n = kind, 2
        while name in names:
            name, n = f"{kind}{n}", n + 1
        if self.node[0] == "step":
            path = self.node[2]
            parent, at = path[:-1], int(path[-1]) + 1
        else:
            parent, at = (), len(route.steps)
        list_path = ("routes", rname, "steps", *parent)
        if self._edit(lambda: self.editor.insert(list_path, self._skeleton(kind, name), at)):
            self.select(("step", rname, (*parent, at)))
            return True
        return False

    def action_add_step(self) -> None:
        def picked(kind: str | None) -> None:
            if kind:
                self.add_step(kind)

        self.app.push_screen(Pick("Add a step after the selection:", [(k, KIND_HELP[k]) for k in STEP_KINDS]), picked)

    def action_add_gate(self) -> None:
        self.add_step("gate")

    # -- targets (the quick chain input and [ ]) ------------------------------------------------------------------
    def _step_path(self) -> Path_ | None:
        return node_base(self.node) if self.node is not None and self.node[0] == "step" else None

    def _targets_value(self, text: str) -> list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]

    @on(Input.Changed, "#targets")
    def _targets_typed(self, event: Input.Changed) -> None:
        base = self._step_path()
        if base is None or event.input.disabled:
            return
        value = self._targets_value(event.value)
        self._check_later(lambda: self._problem(self._dry_run(lambda ed: ed.set((*base, "targets"), value))))

    @on(Input.Submitted, "#targets")
    def _targets_submitted(self, event: Input.Submitted) -> None:
        base = self._step_path()
        if base is None:
            return
        value = self._targets_value(event.value)
        current = [t.model for t in getattr(self._step(), "targets", None) or []]
        if value != current:
            self._edit(lambda: self.editor.set((*base, "targets"), value))

    def action_move(self, delta: int) -> None:
        base = self._step_path()
        step = self._step()
        if base is None or not getattr(step, "targets", None):
            return
        n = len(step.targets)
        src = 0 if delta > 0 else n - 1
        dst = min(max(src + delta, 0), n - 1)
        if src != dst:
            self._edit(lambda: self.editor.move((*base, "targets"), src, dst))

    # -- the PATH = VALUE setter ----------------------------------------------------------------------------------
    def _setter_parse(self, text: str) -> tuple[Path_, Any]:
        if "=" not in text:
            raise ValueError("write PATH = VALUE, e.g. strong_weak.threshold = 0.6")
        left, right = text.split("=", 1)
        rel = tuple(int(p) if p.isdigit() else p for p in left.strip().split(".") if p)
        if not rel:
            raise ValueError("the PATH before `=` is empty")
        base = node_base(self.node) if self.node is not None else None
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
        self._check_later(lambda: self._problem(self._dry_run(lambda ed: ed.set(path, value))))

    @on(Input.Submitted, "#setter")
    def _setter_submitted(self, event: Input.Submitted) -> None:
        try:
            path, value = self._setter_parse(event.value)
        except ValueError as err:
            self._problem(str(err))
            return
        if self._edit(lambda: self.editor.set(path, value)):
            event.input.value = ""

    # -- undo, routes, models, providers --------------------------------------------------------------------------
    def action_undo(self) -> None:
        if self.editor.undo():
            self.invalid.clear()
            self.pending.clear()
            self._changed()

    def action_redo(self) -> None:
        if self.editor.redo():
            self.invalid.clear()
            self.pending.clear()
            self._changed()

    def action_duplicate(self) -> None:
        if self.node is None or self.node[0] not in ("step", "route"):
            return
        rname = self.node[1]
        routes = self.editor.current().profile.routes
        new, n = f"{rname}-copy", 2
        while new in routes:
            new, n = f"{rname}-copy{n}", n + 1
        data = routes[rname].model_dump(mode="json", exclude_defaults=True, by_alias=True)
        if self._edit(lambda: self.editor.set(("routes", new), data)):
            self.select(("step", new, (0,)))

    def action_rename(self) -> None:
        if self.node is None or self.node[0] not in ("step", "route"):
            return
        old = self.node[1]

        def done(new: str | None) -> None:
            if new and new != old and self._edit(lambda: self.editor.rename_route(old, new)):
                self.select((self.node[0], new, *self.node[2:]) if self.node else ("route", new))

        self.app.push_screen(AskName(f"Rename route {old!r} to:", old), done)

    def action_add_provider(self) -> None:
        providers = self.editor.current().profile.providers

        def build(v: dict[str, str]) -> tuple[str, dict[str, Any]]:
            if not v["name"]:
                raise ValueError("providers: give the new provider a name")
            if v["name"] in providers:
                raise ValueError(f"providers.{v['name']}: a provider of that name exists already")
            entry: dict[str, Any] = {"kind": v["kind"]}
            for key in ("wire", "base_url", "api_key_env"):
                if v[key]:
                    entry[key] = v[key]
            problem = key_problem(v["api_key_env"])
            if problem:
                raise ValueError(f"providers.{v['name']}.{problem}")
            return v["name"], entry

        fields = [
            ("name", "name", "", "e.g. openai"),
            ("kind", "kind (openai|anthropic|sim)", "openai", "openai"),
            ("wire", "wire (sim only)", "", "openai or anthropic"),
            ("base_url", "base_url", "", "https://api.openai.com/v1"),
            ("api_key_env", "api_key_env (NAME)", "", "OPENAI_API_KEY"),
        ]
        self._entity("New provider", "providers", fields, build)

    def action_add_model(self) -> None:
        profile = self.editor.current().profile

        def build(v: dict[str, str]) -> tuple[str, dict[str, Any]]:
            if not v["alias"]:
                raise ValueError("models: give the new model an alias")
            if v["alias"] in profile.models:
                raise ValueError(f"models.{v['alias']}: a model of that name exists already")
            price: dict[str, Any] = {}
            for key in ("input", "output"):
                try:
                    price[key] = Decimal(v[key] or "0")
                except ArithmeticError:
                    raise ValueError(f"models.{v['alias']}.prices.0.{key}: not a number: {v[key]!r}") from None
            entry: dict[str, Any] = {"provider": v["provider"], "model": v["model"] or v["alias"]}
            if v["context_window"]:
                entry["context_window"] = parse_value(v["context_window"])
            if v["tokenizer"]:
                entry["tokenizer"] = v["tokenizer"]
            entry["prices"] = [price]
            return v["alias"], entry

        fields = [
            ("alias", "alias", "", "how routes name it"),
            ("provider", "provider", next(iter(profile.providers)), ", ".join(profile.providers)),
            ("model", "wire id", "", "the provider's model id (default: the alias)"),
            ("input", "input $ per 1M tokens", "", "0"),
            ("output", "output $ per 1M tokens", "", "0"),
            ("context_window", "context window", "", "128000"),
            ("tokenizer", "tokenizer", "", "o200k_base or cl100k_base"),
        ]
        self._entity("New model", "models", fields, build)

    def _entity(self, title: str, section: str, fields: list[tuple[str, str, str, str]], build: Any) -> None:
        def check(name: str, entry: dict[str, Any]) -> str | None:
            return self._dry_run(lambda ed: ed.set((section, name), entry))

        def done(result: dict[str, Any] | None) -> None:
            if result and self._edit(lambda: self.editor.set((section, result["name"]), result["entry"])):
                self.select(("model" if section == "models" else "provider", result["name"]))
                self.notify(f"{section[:-1]} {result['name']!r} added: edit it in the form, then use it in a step")

        self.app.push_screen(EntityForm(title, fields, build, check), done)

    def action_delete(self) -> None:
        if self.node is None:
            return
        kind = self.node[0]
        if kind == "policies":
            return
        path = node_base(self.node)
        what = f"{kind} {self.node[1]}" if kind != "step" else f"step {self._step().name} of route {self.node[1]}"

        def done(answer: str | None) -> None:
            if answer == "save" and self._edit(lambda: self.editor.delete(path)):
                self.node = None
                self._rebuild_tree()

        self.app.push_screen(ConfirmDiff(f"- {what}", False, title=f"Delete {what}?", primary="Delete"), done)

    def action_save(self) -> None:
        self.flush()
        if self.invalid:
            where, message = next(iter(self.invalid.items()))
            self._problem(f"not saved: fix {'.'.join(map(str, where))} first\n{message}")
            return
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
