"""The rows of a composer form, built from the pydantic model of the selected node (no Textual here).

A form is a flat list of `Row`s: headings, one `field` row per value (with the text written in the file and the
value in force with its origin when nothing is written), `item` rows heading each entry of a list or mapping of
models (targets, checks, rules, categories, prices: move/remove), and `add` rows. Rows are derived from the
model classes in `workbench.profiles` — a field added there shows up in the form without touching this module.
Values are shown and read back as one line of YAML (`0.6`, `[swift, steady]`, `{kind: http_503, rate: 1}`).
"""

from __future__ import annotations

import datetime as dt
import io
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from workbench.profiles.edit import parse_value
from workbench.profiles.policies import POLICY_FIELDS, Policies
from workbench.profiles.steps import Target

Path_ = tuple[str | int, ...]
#: (value in force, where it comes from) for a field not written at this node, by its dotted path in the node.
InForce = Callable[[str, Any], tuple[Any, str] | None]

# A step's fields edited elsewhere: its kind is fixed once it exists, branches and sub-steps are tree nodes.
STRUCTURAL = frozenset({"kind", "branches", "steps"})
TOOL_FIELDS = frozenset({"tools", "tool_choice", "parallel_tool_calls", "unsupported_content"})
ROUTE_MODES = ("rules", "classifier", "strong_weak")
# Long texts get a multi-line editor.
MULTILINE = {"template", "system", "prompt", "feedback", "rubric", "instructions"}
# Lists of models the form can add to (what is added is decided by the screen).
ADDABLE = {"targets", "checks", "rules", "categories", "prices"}


@dataclass
class Row:
    """One line of a form."""

    kind: Literal["heading", "field", "item", "add"]
    path: Path_  # absolute, from the top of the profile (an item's own path; the list's path for `add`)
    label: str
    text: str = ""  # the value written in the file, as one line of YAML ("" = not written: inherited)
    placeholder: str = ""  # the value in force when not written here, and where it comes from
    help: str = ""
    multiline: bool = False
    group: str = ""  # rows of one policy block share a group (a collapsible section)
    choices: tuple[str, ...] = ()
    index: int = 0  # item rows: the position in the list, and how many there are
    count: int = 0
    plain_item: bool = False  # a field of a target written as a bare alias (`swift`, not `{model: swift}`)
    is_text: bool = False  # a string field: what is typed is taken as text, never read as YAML
    # a field of a model not written yet that cannot be written one key at a time (`judge: {model, rubric}`):
    # the whole mapping is written at once, with `fill` (its fixed `type: judge`) and what its siblings hold
    fill: dict[str, Any] | None = None


def flow(value: Any) -> str:
    """A value as one line of YAML, the way `parse_value` reads it back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value if "\n" in value or parse_value(value) == value else _dump(value)
    return _dump(value)


def _dump(value: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = True
    yaml.width = 1_000_000
    buf = io.StringIO()
    yaml.dump(_plain(value), buf)
    text = buf.getvalue().strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    return value


def _unwrap(ann: Any) -> Any:
    """`Annotated[X, ...]` -> X; `X | None` -> X (a union of several models stays a union)."""
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
        return typing.Union[tuple(_unwrap(a) for a in args)]  # noqa: UP007 - built from a tuple
    return ann


def _models(ann: Any) -> list[type[BaseModel]]:
    """The model classes an annotation stands for (one, or the members of a union), else []."""
    ann = _unwrap(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        return found if len(found) == len(typing.get_args(ann)) else []
    return []


def _pick(classes: list[type[BaseModel]], raw: Any) -> type[BaseModel]:
    """The member of a union whose literal fields (`type: judge`) match what is written."""
    if len(classes) > 1 and isinstance(raw, dict):
        for cls in classes:
            literals = {
                name: typing.get_args(_unwrap(f.annotation))
                for name, f in cls.model_fields.items()
                if typing.get_origin(_unwrap(f.annotation)) is Literal
            }
            if literals and all(raw.get(name) in args for name, args in literals.items() if name in raw):
                if all(name in raw for name in literals):
                    return cls
    return classes[0]


def _fixed(cls: type[BaseModel]) -> dict[str, Any]:
    """Fields with one possible value (`type: judge`): written for the user, never asked."""
    out: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        ann = _unwrap(info.annotation)
        if typing.get_origin(ann) is Literal and len(typing.get_args(ann)) == 1:
            out[info.alias or name] = typing.get_args(ann)[0]
    return out


def _choices(ann: Any) -> tuple[str, ...]:
    ann = _unwrap(ann)
    if typing.get_origin(ann) is list:
        ann = _unwrap(typing.get_args(ann)[0])
    if typing.get_origin(ann) is Literal:
        return tuple(flow(a) for a in typing.get_args(ann))
    if ann is bool:
        return ("true", "false")
    return ()


def _default(info: Any) -> tuple[Any, bool]:
    """(the default, whether there is one)."""
    if info.default_factory is not None:
        try:
            return info.default_factory(), True
        except TypeError:  # a factory that wants the validated data
            return None, True
    if info.default is PydanticUndefined:
        return None, False
    return info.default, True


def shown(value: Any) -> str:
    """A value in force, for a placeholder: `none` for nothing, `[]` for an empty list."""
    if value is None:
        return "none"
    return flow(value) or '""'


def build_rows(
    cls: type[BaseModel],
    raw: Any,
    base: Path_,
    in_force: InForce,
    *,
    rel: str = "",
    group: str = "",
    skip: frozenset[str] = frozenset(),
    order: list[str] | None = None,
    prefix: str = "",
) -> list[Row]:
    """Rows for every field of `cls` at `base`, `raw` being what the file has there (a mapping or None)."""
    rows: list[Row] = []
    written = raw if isinstance(raw, dict) else {}
    for name in order or list(cls.model_fields):
        info = cls.model_fields[name]
        key = info.alias or name
        if name in skip or key in skip:
            continue
        if cls is Target and name in POLICY_FIELDS:
            continue  # per-target policies: the PATH = VALUE setter
        here = f"{rel}.{key}" if rel else key
        path = (*base, key)
        value = written.get(key)
        ann = info.annotation
        sub = _models(ann)
        block = group or (name if issubclass(cls, Policies) and name in POLICY_FIELDS else "")
        help_text = info.description or ""
        if len(sub) == 1 and typing.get_origin(_unwrap(ann)) not in (list, dict):
            inner_prefix = "" if block else f"{prefix}{key}."
            fixed = _fixed(sub[0])
            nested = build_rows(
                sub[0], value, path, in_force, rel=here, group=block, prefix=inner_prefix, skip=frozenset(fixed)
            )
            if value is None and (fixed or any(f.is_required() for f in sub[0].model_fields.values())):
                for r in nested:
                    if r.path[:-1] == path:
                        r.fill = fixed
            rows.extend(nested)
            continue
        origin = typing.get_origin(_unwrap(ann))
        inner = typing.get_args(_unwrap(ann))
        if origin is list and _models(inner[0]):
            items = value if isinstance(value, list) else []
            classes = _models(inner[0])
            rows.append(Row("heading", path, key, help=help_text, group=block, count=len(items)))
            for i, item in enumerate(items):
                item_cls = _pick(classes, item)
                label = _item_label(item)
                rows.append(Row("item", (*path, i), label, index=i, count=len(items), group=block))
                if isinstance(item, str) and item_cls is Target:
                    item_rows = build_rows(item_cls, {"model": item}, (*path, i), in_force, rel=f"{here}.{i}")
                    for r in item_rows:
                        r.plain_item = True
                    rows.extend(item_rows)
                else:
                    skip_type = frozenset({"type"}) if len(classes) > 1 else frozenset()
                    rows.extend(build_rows(item_cls, item, (*path, i), in_force, rel=f"{here}.{i}", skip=skip_type))
            if key in ADDABLE:
                rows.append(Row("add", path, key, group=block))
            continue
        if origin is dict and len(inner) == 2 and _models(inner[1]):
            entries = value if isinstance(value, dict) else {}
            rows.append(Row("heading", path, key, help=help_text, group=block, count=len(entries)))
            for i, (ename, entry) in enumerate(entries.items()):
                rows.append(Row("item", (*path, str(ename)), str(ename), index=i, count=len(entries), group=block))
                entry_cls = _pick(_models(inner[1]), entry)
                rows.extend(build_rows(entry_cls, entry, (*path, str(ename)), in_force, rel=f"{here}.{ename}"))
            if key in ADDABLE:
                rows.append(Row("add", path, key, group=block))
            continue
        found = in_force(here, info)
        if found is None:
            default, has_default = _default(info)
            found = (default, "default") if has_default else (None, "required")
        placeholder = "required" if found[1] == "required" else f"{shown(found[0])} · {_origin(found[1])}"
        text = flow(value) if key in written else ""
        rows.append(
            Row(
                "field",
                path,
                f"{prefix}{key}",
                text=text,
                placeholder=placeholder,
                help=help_text,
                multiline=name in MULTILINE or "\n" in text,
                group=block,
                choices=_choices(ann),
                is_text=_unwrap(ann) is str,
            )
        )
    return rows


def _origin(origin: str) -> str:
    return origin if origin.startswith(("default", "required")) else f"from {origin}"


def _item_label(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("model", "name", "type", "kind", "branch"):
            if key in item:
                return f"{item[key]}"
        return ", ".join(f"{k}" for k in item)
    return flow(item)


def policy_in_force(resolved: Any) -> InForce:
    """An `InForce` answering `retry.max_attempts`-like paths from a `resolve()` result."""

    def look(rel: str, info: Any) -> tuple[Any, str] | None:
        if rel in resolved.origins:
            block, _, name = rel.partition(".")
            value = getattr(getattr(resolved, block), name) if name else getattr(resolved, block)
            return value, resolved.origins[rel]
        return None

    return look


# -- the form of each kind of node ------------------------------------------------------------------------------

#: What the composer has selected: ("step", route, path) · ("route", route) · ("model", alias) ·
#: ("provider", name) · ("policies",)
Node = tuple[Any, ...]


def node_base(node: Node) -> Path_:
    """Where the node sits in the profile."""
    kind = node[0]
    if kind == "step":
        return ("routes", node[1], "steps", *node[2])
    if kind == "route":
        return ("routes", node[1])
    if kind == "model":
        return ("models", node[1])
    if kind == "provider":
        return ("providers", node[1])
    return ("policies",)


def node_rows(profile: Any, node: Node, raw: Any) -> list[Row]:
    """The form of a node: every field of its model, with what is written and what is in force."""
    from workbench.profiles.models import Model, Provider, Route
    from workbench.profiles.steps import Governed

    kind = node[0]
    base = node_base(node)
    if kind == "step":
        rname, path = node[1], node[2]
        step = dict(profile.routes[rname].all_steps())[path]
        cls = type(step)
        own = [f for f in cls.model_fields if f not in Governed.model_fields]
        order = ["name", *own, *(f for f in Governed.model_fields if f != "name" and f not in POLICY_FIELDS)]
        # a generate step's tools (issue 21) are written in the YAML for now: the form leaves them as they are
        skip = STRUCTURAL | TOOL_FIELDS
        rows = []
        if step.kind == "route":  # only the fields of the mode in use, and the mode itself
            skip = skip | {m for m in (*ROUTE_MODES, "categories") if m != step.mode}
            if step.mode == "classifier":
                skip = skip - {"categories"}
            rows.append(
                Row("field", (*base, "@mode"), "mode", text=step.mode, choices=ROUTE_MODES, placeholder="required")
            )
        in_force = step_in_force(profile, rname, path, step)
        rows += build_rows(cls, raw, base, in_force, skip=skip, order=[*order, *POLICY_FIELDS])
        return rows
    if kind == "route":
        order = [f for f in Route.model_fields if f not in POLICY_FIELDS] + list(POLICY_FIELDS)
        return build_rows(Route, raw, base, route_in_force(profile, node[1]), skip=frozenset({"steps"}), order=order)
    if kind == "model":
        return build_rows(Model, raw, base, lambda rel, info: None)
    if kind == "provider":
        return build_rows(Provider, raw, base, lambda rel, info: None)
    return build_rows(Policies, raw, base, route_in_force(profile, None))


def step_in_force(profile: Any, rname: str, path: Path_, step: Any) -> InForce:
    """Policies as `resolve()` has them (for the first target, as the engine calls it), and per-target options
    from the step or the model."""
    from workbench.profiles.resolve import resolve

    targets = getattr(step, "targets", None)
    policy = policy_in_force(resolve(profile, rname, path, 0 if targets else None))
    at = f"routes.{rname}.steps." + ".".join(map(str, path))

    def look(rel: str, info: Any) -> tuple[Any, str] | None:
        parts = rel.split(".")
        if len(parts) == 3 and parts[0] == "targets" and targets:
            option = parts[2]
            if option in ("max_output_tokens", "temperature") and getattr(step, option, None) is not None:
                return getattr(step, option), f"{at}.{option}"
            target = targets[int(parts[1])] if int(parts[1]) < len(targets) else None
            model = profile.models.get(target.model) if target is not None else None
            if option == "max_output_tokens" and target is not None and model is not None:
                return model.max_output_tokens, f"models.{target.model}.max_output_tokens"
            return None
        return policy(rel, info)

    return look


def route_in_force(profile: Any, rname: str | None) -> InForce:
    """For a route's own fields (or the profile's `policies`): what the levels above it give."""
    from workbench.profiles.policies import DEFAULTS

    def look(rel: str, info: Any) -> tuple[Any, str] | None:
        block, _, name = rel.partition(".")
        if block not in POLICY_FIELDS:
            return None
        if rname is not None:
            above = getattr(profile.policies, block, None)
            value = getattr(above, name, None) if name else above
            if value is not None:
                return value, f"policies.{rel}"
        default = DEFAULTS.get(block)
        return (default.get(name) if isinstance(default, dict) else default), "default"

    return look
