"""Turning validation errors into `FILE:LINE:COL: field.path: what is wrong (expected …)` lines.

The loader keeps the ruamel round-trip tree beside the plain data it validates; every node of that tree knows
its line and column (`.lc`), so a pydantic error's `loc` can be walked down the tree to the key or value at
fault. Messages are rewritten in plain words ("expected a number, got 'fast'") with "did you mean" hints drawn
from the profile schema itself, so they never drift from the models.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
import typing
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Tag
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from workbench.profiles.models import Profile
from workbench.profiles.steps import Target

Loc = tuple[str | int, ...]

# Column and line are 1-based in messages, as editors and compilers print them.
Position = tuple[int, int]

_NAME_PATTERN_WORDS = "a name of letters, digits and . _ : / @ - that starts with a letter or digit"
_PATTERN_WORDS = {
    r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$": _NAME_PATTERN_WORDS,
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable NAME (letters, digits and _, not starting with a digit)",
}

# pydantic error type -> what was expected, in plain words
_TYPE_WORDS = {
    **dict.fromkeys(("float_type", "float_parsing", "decimal_type", "decimal_parsing"), "a number"),
    "finite_number": "a finite number",
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float", "int_parsing_size"), "a whole number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "true or false"),
    **dict.fromkeys(("string_type", "string_sub_type", "string_unicode"), "text"),
    **dict.fromkeys(
        ("dict_type", "mapping_type", "model_type", "model_attributes_type", "dataclass_type"),
        "a mapping (indented `key: value` lines)",
    ),
    **dict.fromkeys(("list_type", "tuple_type", "iterable_type", "set_type"), "a list (lines starting with `- `)"),
    **dict.fromkeys(
        ("date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"),
        "a date as YYYY-MM-DD",
    ),
}


def problem(label: str, pos: Position, path: str, what: str) -> str:
    return f"{label}:{pos[0]}:{pos[1]}: {path}: {what}"


def show(value: Any) -> str:
    """A short rendering of an offending input for a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in path) or "(profile)"


def suggest(word: object, choices: Iterable[object]) -> str:
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


# --- the schema side: which type sits at a location ----------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _member_tags(member: Any) -> tuple[str, ...]:
    """The tags pydantic puts in an error's `loc` for one member of a union: a `Tag(...)`, or the literal value
    of the discriminating field (`kind`, `type`), or the type's own name (`str`, `list[str]`)."""
    if typing.get_origin(member) is typing.Annotated:
        for meta in getattr(member, "__metadata__", ()):
            if isinstance(meta, Tag):
                return (meta.tag,)
        member = typing.get_args(member)[0]
    if isinstance(member, type) and issubclass(member, BaseModel):
        tags: list[str] = []
        for key in ("kind", "type"):
            field = member.model_fields.get(key)
            if field is not None and typing.get_origin(field.annotation) is typing.Literal:
                tags.extend(str(v) for v in typing.get_args(field.annotation))
        return (*tags, member.__name__)
    name = getattr(member, "__name__", None)
    return (str(member), *((name,) if name else ()))


def union_members(tp: Any) -> list[Any]:
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)]
    return []


def walk_schema(loc: Loc) -> tuple[Loc, Any | None]:
    """Walk an error's `loc` down the Profile schema: (the loc without pydantic's union tags, the type reached).

    Unions are crossed by their tags (a step's `kind`, a gate check's `type`); the type is None when the path
    leaves the schema (the cleaned path is then the rest of `loc` as given)."""
    tp: Any = Profile
    clean: list[str | int] = []
    for i, seg in enumerate(loc):
        if tp is None:
            clean.extend(s for s in loc[i:])
            break
        members = union_members(tp)
        if members:
            chosen = next((m for m in members if str(seg) in _member_tags(m)), None)
            if chosen is not None:  # a tag: no place in the file
                tp = chosen
                continue
            tp = None
            clean.append(seg)
            continue
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        clean.append(seg)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(seg))
            if field is None:
                field = next((f for f in tp.model_fields.values() if f.alias == seg), None)
            tp = None if field is None else field.annotation
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin is list:
            tp = typing.get_args(tp)[0]
        else:
            tp = None
    return tuple(clean), (None if tp is None else _unwrap(tp))


def type_at(loc: Loc) -> Any | None:
    """The (unwrapped) annotation at `loc` in the Profile schema, or None when the path leaves the schema."""
    return walk_schema(loc)[1]


def model_at(loc: Loc) -> type[BaseModel] | None:
    """The model at `loc`, also when `loc` ends on a union whose member is decided by the file (a target)."""
    tp = type_at(loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return None


def expect_words(tp: Any) -> str | None:
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of: " + ", ".join(str(v) for v in typing.get_args(tp))
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp in (float, Decimal):
        return "a number"
    if tp is str:
        return "text"
    if tp is dt.date:
        return "a date as YYYY-MM-DD"
    if origin is dict or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return "a mapping"
    if origin is list:
        return "a list"
    return None


# --- the file side: which line a location is on ----------------------------------------------------------------


def _pos(lc_pair: tuple[int, int] | list[int]) -> Position:
    return lc_pair[0] + 1, lc_pair[1] + 1


def node_pos(node: Any) -> Position:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return 1, 1
    return lc.line + 1, (lc.col or 0) + 1


def _is_container(node: Any) -> bool:
    return isinstance(node, (CommentedMap, CommentedSeq))


def locate(doc: Any, loc: Loc, *, at_key: bool = False) -> tuple[Position, list[str | int], Any]:
    """Walk `loc` down the round-trip tree: (position, the path as found in the file, the node reached).

    A scalar points at its value, a container at its key; a segment the file lacks is a missing field when it
    is the last one (named, positioned at its parent) and a pydantic-internal tag otherwise (skipped).
    `at_key` points at the last key even when its value is a scalar (an unknown key is the key's fault).
    """
    node = doc
    pos = node_pos(doc)
    key_pos = pos
    shown: list[str | int] = []
    for i, seg in enumerate(loc):
        if seg == "[key]":  # the mapping key itself is invalid
            pos = key_pos
            continue
        if isinstance(node, CommentedMap) and seg in node:
            child = node[seg]
            try:
                key_pos = _pos(node.lc.key(seg))
                scalar = not _is_container(child) and not (at_key and i == len(loc) - 1)
                pos = _pos(node.lc.value(seg)) if scalar else key_pos
            except (KeyError, TypeError):  # a key merged in from an anchor (<<: *x) has no own position
                key_pos = pos = node_pos(node)
            shown.append(seg)
            node = child
        elif isinstance(node, CommentedSeq) and isinstance(seg, int) and 0 <= seg < len(node):
            try:
                key_pos = pos = _pos(node.lc.item(seg))
            except (KeyError, TypeError):
                key_pos = pos = node_pos(node)
            shown.append(seg)
            node = node[seg]
        elif i == len(loc) - 1 and isinstance(node, CommentedMap):
            shown.append(seg)
            node = None
        # else: a union/validator tag pydantic adds to `loc`; it has no place in the file
    return pos, shown, node


def resolve_dotted(doc: Any, path: str) -> Loc | None:
    """Split "models.gpt-4.1.provider" into the file's real keys (aliases may themselves hold dots)."""
    tokens = path.split(".")

    def walk(node: Any, i: int) -> list[str | int] | None:
        if i == len(tokens):
            return []
        if isinstance(node, CommentedSeq):
            if tokens[i].isdigit() and int(tokens[i]) < len(node):
                rest = walk(node[int(tokens[i])], i + 1)
                return None if rest is None else [int(tokens[i]), *rest]
            return None
        if isinstance(node, CommentedMap):
            for j in range(len(tokens), i, -1):  # the longest key first
                key = ".".join(tokens[i:j])
                if key in node:
                    rest = walk(node[key], j)
                    if rest is not None:
                        return [key, *rest]
        return None

    found = walk(doc, 0)
    return tuple(found) if found is not None else None


# --- pydantic errors -> problems -------------------------------------------------------------------------------

_UNKNOWN_REF = re.compile(r"^unknown (?P<what>\w+) (?P<value>'.*?'|\".*?\") \(defined: (?P<defined>.*)\)$")
_QUOTED = re.compile(r"'([^']+)'")
# Where a user may have pasted a key by mistake: never echo the value back into a terminal or a log.
_SECRET_FIELDS = frozenset({"api_key_env", "headers"})


def _plain_words(err: dict[str, Any]) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, show(err.get("input"))
    loc: Loc = tuple(err["loc"])
    if _SECRET_FIELDS.intersection(str(seg) for seg in loc):
        got = "a value not shown here (it may be a key: a profile names the variable, never the key)"
    if kind in ("model_type", "model_attributes_type") and type_at(loc) is Target:
        return f"expected a model alias or a mapping with `model:` (and options such as `retry:`), got {got}"
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {got}"
    if kind in ("step_kind", "check_type", "union_tag_invalid", "union_tag_not_found"):
        return _tag_words(err, loc)
    if kind == "missing":
        words = expect_words(type_at(loc))
        return "required field is missing" + (f" (expected {words})" if words else "")
    if kind == "extra_forbidden":
        parent = type_at(loc[:-1])
        fields = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        hint = suggest(loc[-1], fields)
        if hint:
            return f"unknown field ({hint})"
        return f"unknown field (expected one of: {', '.join(fields)})" if fields else "unknown field"
    if kind == "literal_error":
        tp = type_at(loc)
        values = typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else ()
        allowed = ", ".join(str(v) for v in values) or ctx.get("expected", "?")
        hint = suggest(err.get("input"), values)
        return f"expected one of: {allowed}, got {got}" + (f" ({hint})" if hint else "")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {
            "greater_than": ("more than", "gt"),
            "greater_than_equal": ("at least", "ge"),
            "less_than": ("less than", "lt"),
            "less_than_equal": ("at most", "le"),
        }[kind]
        limit = ctx.get(bound[1])
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)  # "at least 0", not "at least 0.0"
        return f"expected a number {bound[0]} {limit}, got {got}"
    if kind in ("too_short", "too_long"):
        size = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        what = "entry" if ctx.get("field_type") == "Dictionary" else "item"
        at = "at least" if kind == "too_short" else "at most"
        return f"expected {at} {size} {what}{'s' if size != 1 else ''}, got {ctx.get('actual_length', 0)}"
    if kind in ("string_too_short", "string_too_long"):
        size = ctx.get("min_length") if kind == "string_too_short" else ctx.get("max_length")
        at = "at least" if kind == "string_too_short" else "at most"
        return f"expected text of {at} {size} character{'s' if size != 1 else ''}, got {got}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return f"expected {_PATTERN_WORDS.get(pattern, f'text matching {pattern}')}, got {got}"
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return f"{msg[:1].lower()}{msg[1:]}, got {got}"


def _tag_words(err: dict[str, Any], loc: Loc) -> str:
    """An unknown or missing `kind:` of a step / `type:` of a gate check, with the choices and a hint."""
    members = union_members(type_at(loc))
    key = {"step_kind": "kind", "check_type": "type"}.get(err["type"]) or str(
        (err.get("ctx") or {}).get("discriminator", "type")
    ).strip("'")
    what = "step kind" if key == "kind" else "check type" if key == "type" else key
    if err["type"] == "check_type":  # built in or from a plugin: every installed type (workbench/gates.py)
        from workbench.gates import GATES

        choices = GATES.names()
    else:
        choices = [t for m in members for t in _member_tags(m)[:1]]
    given = err.get("input", {}).get(key) if isinstance(err.get("input"), dict) else None
    if given is None:
        return f"`{key}` is missing (expected one of: {', '.join(choices)})"
    hint = suggest(given, choices)
    return f"unknown {what} {show(given)} (expected one of: {', '.join(choices)}" + (f"; {hint})" if hint else ")")


def _reference_problem(label: str, doc: Any, line: str) -> tuple[Position, str]:
    """One "@dotted.path: message" line from the Profile's cross-reference check."""
    path, _, what = line[1:].partition(": ")
    loc = resolve_dotted(doc, path)
    parts = path.split(".")
    while loc is None and len(parts) > 1:  # `targets.0.model` of a target written as a plain alias
        parts.pop()
        loc = resolve_dotted(doc, ".".join(parts))
    if loc is None:
        pos, shown = node_pos(doc), path
    else:
        pos, found, _ = locate(doc, loc)
        shown = dotted(found)
    m = _UNKNOWN_REF.match(what)
    if m:
        defined = [d.strip() for d in m["defined"].split(",") if d.strip()]
        hint = suggest(m["value"][1:-1], defined)
        what = f"unknown {m['what']} {m['value']} (expected one of: {', '.join(defined)}" + (
            f"; {hint})" if hint else ")"
        )
    return pos, problem(label, pos, shown, what)


def problems_from_errors(label: str, doc: Any, errors: list[dict[str, Any]]) -> list[str]:
    """Every pydantic error as a `FILE:LINE:COL: path: what` line, in file order."""
    found: list[tuple[Position, int, str]] = []
    for n, err in enumerate(errors):
        what = _plain_words(err)
        loc, _ = walk_schema(tuple(err["loc"]))
        if err["type"] == "value_error" and what.startswith("@"):
            # "@a.b: ..." is a path from the top of the profile; "@.a.b: ..." one below the failing model
            for line in what.splitlines():
                if line.startswith("@."):
                    line = "@" + dotted((*locate(doc, loc)[1], line[2:]))
                pos, text = _reference_problem(label, doc, line)
                found.append((pos, n, text))
            continue
        if err["type"] in ("step_kind", "check_type", "union_tag_invalid"):
            key = "kind" if err["type"] == "step_kind" else "type"
            loc = (*loc, key)  # the tag's own line
        pos, shown, node = locate(doc, loc, at_key=err["type"] == "extra_forbidden")
        # A check on a whole mapping that names one of its keys ("header 'Authorization' ...") points at that key.
        named = _QUOTED.search(what) if isinstance(node, CommentedMap) else None
        if named and named.group(1) in node:
            pos, shown, _ = locate(doc, (*shown, named.group(1)))
        found.append((pos, n, problem(label, pos, dotted(shown), what)))
    found.sort()
    return [text for _, _, text in found]
