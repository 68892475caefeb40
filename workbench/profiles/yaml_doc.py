"""The round-trip YAML document behind a profile: parse with located errors, copy out plain data, edit, dump.

ruamel.yaml's round-trip mode keeps comments, key order and flow/block style, and every mapping and list
knows the line and column of its keys and items (`.lc`), which is what lets a validation error name its line.
Dumping uses the file's own indentation so that an edit moves nothing but the lines it changes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import CommentMark, MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString
from ruamel.yaml.tokens import CommentToken

from workbench.errors import ProfileError
from workbench.profiles.problems import dotted, node_pos, problem, show


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


#: Use as a value in `save_profile` updates to remove the key (or list item) at that path.
DELETE: Any = _Delete()


# --- parsing ------------------------------------------------------------------------------------------------------


class _Representer(RoundTripRepresenter):
    """Round-trip representer that also writes Decimal prices as plain YAML numbers."""


def _represent_decimal(rep: RoundTripRepresenter, value: Decimal) -> Any:
    text = format(value, "f")
    return rep.represent_scalar("tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int", text)


_Representer.add_representer(Decimal, _represent_decimal)


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation as the file already uses it, so a rewrite moves nothing."""
    mapping = sequence = offset = None
    prev_indent, prev_opens = 0, False
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if prev_opens:
            if stripped == "-" or stripped.startswith("- "):
                if offset is None and indent >= prev_indent:
                    offset = indent - prev_indent
                    after = stripped[1:]
                    sequence = offset + 1 + (len(after) - len(after.lstrip(" ")) if after.strip() else 1)
            elif mapping is None and indent > prev_indent:
                mapping = indent - prev_indent
        body = stripped.split(" #", 1)[0].rstrip()
        prev_indent, prev_opens = indent, body.endswith(":")
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    if offset is None:
        offset, sequence = 2, mapping + 2
    return mapping, max(sequence or 2, offset + 2), offset


def make_yaml(text: str = "") -> YAML:
    """A round-trip YAML instance that dumps with the indentation `text` already uses."""
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a user's long lines
    mapping, sequence, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def line_of_offset(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


def unbuildable(yaml: YAML, text: str) -> tuple[tuple[int, int], str]:
    """Where and why YAML that parsed could not be built into values; composed nodes keep their marks.

    Three cases reach here: a scalar that looks like a date but is not one (2026-13-01), a mapping or list
    used as a mapping key (`{[a]: b}`), which Python cannot hash, and an explicit tag (`!!set`, `!!float`)
    on a node it does not fit, which ruamel does not always report with a position.
    """
    found = _scan_events(text)
    if found is not None:
        return found
    try:
        stack = [yaml.compose(text)]
    except Exception:  # noqa: BLE001 - only a best effort at a position
        return (1, 1), "could not be read"
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        mark = node.start_mark
        if text.startswith("!", mark.index):
            tag = text[mark.index :].split(None, 1)[0]
            return (mark.line + 1, mark.column + 1), f"YAML tag {tag} does not fit here (expected no tag)"
        if isinstance(node.value, list):
            for item in reversed(node.value):
                if isinstance(item, tuple):
                    key = item[0]
                    if isinstance(key.value, list):
                        mark = key.start_mark
                        return (mark.line + 1, mark.column + 1), "a mapping or list used as a key (expected a name)"
                    stack.extend(reversed(item))
                else:
                    stack.append(item)
        elif node.tag.endswith(":timestamp") and _DATE_LIKE.match(str(node.value)):
            try:
                dt.date(*(int(p) for p in str(node.value)[:10].split("-")))
            except ValueError as err:
                mark = node.start_mark
                return (mark.line + 1, mark.column + 1), f"invalid date {node.value!r}: {err} (expected YYYY-MM-DD)"
    return (1, 1), "could not be read"


MAX_DEPTH = 100  # a real profile nests under 10 deep; Python's recursion gives out a few hundred deep
_LONG_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")


def _scan_events(text: str) -> tuple[tuple[int, int], str] | None:
    """Nesting too deep for the builder, or an integer too long for Python to convert (over 4300 digits), found
    on the event stream (flat, no recursion) so the message names their line instead of 1:1."""
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent, ScalarEvent

    depth = 0
    limit = sys.get_int_max_str_digits() or 0
    try:
        for event in YAML(typ="rt").parse(text):
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    what = f"nested more than {MAX_DEPTH} deep (expected a profile's few levels)"
                    return (mark.line + 1, mark.column + 1), what
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            elif isinstance(event, ScalarEvent) and limit and event.style is None and len(event.value) > limit:
                if _LONG_INT.match(event.value):
                    mark = event.start_mark
                    digits = sum(c.isdigit() for c in event.value)
                    what = f"an integer of {digits} digits is too large (expected at most {limit} digits)"
                    return (mark.line + 1, mark.column + 1), what
    except Exception:  # noqa: BLE001 - the other checks then give their best position
        return None
    return None


def parse(yaml: YAML, text: str, label: str) -> Any:
    """The round-trip document of `text` (None when empty); YAML errors become a located ProfileError."""
    try:
        return yaml.load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = err.problem or err.context or "invalid YAML"
        dup = re.match(r'found duplicate key "(.*?)" with value', what)
        if dup:  # ruamel's text also quotes both values, which may be secrets: name the key only
            what = f"duplicate key {dup.group(1)!r} (expected each key once in a mapping)"
        elif "<block" in what:
            what = f"{what} (expected valid YAML: check this line's indentation)"
        else:
            what = f"{what} (expected valid YAML)"
        raise one_problem(label, pos, "(yaml)", what) from None
    except ReaderError as err:
        pos = line_of_offset(text, err.position)
        what = f"unacceptable character #x{err.character:04x} (expected printable text)"
        raise one_problem(label, pos, "(yaml)", what) from None
    except YAMLError as err:
        raise one_problem(label, (1, 1), "(yaml)", f"{err} (expected valid YAML)") from None
    except Exception:  # noqa: BLE001 - parsed, but a value could not be built (bad date, list as key, odd tag)
        pos, what = unbuildable(yaml, text)
        raise one_problem(label, pos, "(yaml)", what) from None


def one_problem(label: str, pos: tuple[int, int], path: str, what: str, hint: str | None = None) -> ProfileError:
    text = problem(label, pos, path, what)
    return ProfileError(text, problems=[text], hint=hint)


MAX_NODES = 200_000  # values aliases may add: a real profile's anchors add a few hundred; "billion laughs" billions


class Unplain(Exception):
    """The document cannot become plain data: it expands too far, refers to itself, or has a non-scalar key."""


def plain(node: Any, budget: list[int]) -> Any:
    """The round-trip tree as plain Python data, so the validated Profile holds no ruamel types.

    Aliases are expanded into copies. Only the copies count against `budget` (a mapping or list met a second
    time is an alias's expansion: it and everything in it): a large profile written out in full costs nothing
    (60,000 models were refused as an "alias bomb"), aliases of aliases are refused, and so is self-reference.
    """
    seen: set[int] = set()  # mappings and lists met once already

    def walk(node: Any, ancestors: frozenset[int], copy: bool) -> Any:
        if isinstance(node, (dict, list)):
            if id(node) in ancestors:
                raise Unplain("an alias refers to a mapping or list that contains it (expected no cycles)")
            ancestors = ancestors | {id(node)}
            if id(node) in seen:
                copy = True
            else:
                seen.add(id(node))
        if copy:
            budget[0] -= 1
            if budget[0] < 0:
                raise Unplain("expands to more than 200000 values (expected no alias-of-alias expansion)")
        if isinstance(node, dict):
            if not all(k is None or isinstance(k, (str, int, float, bool)) for k in node):
                raise Unplain("a mapping or list used as a key (expected a name)")  # `[a, b]: x`, `? {a: 1}`
            return {walk(k, ancestors, copy): walk(v, ancestors, copy) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, ancestors, copy) for v in node]
        if isinstance(node, TaggedScalar):
            return node.value
        if isinstance(node, bool):
            return bool(node)
        for kind in (int, float, str):
            if isinstance(node, kind):
                return kind(node)
        return node

    return walk(node, frozenset(), False)


# --- editing -------------------------------------------------------------------------------------------------


def to_yaml_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python", exclude_defaults=True)
    if isinstance(value, Mapping):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = to_yaml_value(v)
        return out
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(to_yaml_value(v) for v in value)
        if not any(isinstance(v, (dict, list)) for v in seq):
            seq.fa.set_flow_style()  # [a, b]: how a hand-written profile lists targets
        return seq
    if isinstance(value, Path):
        return str(value)
    return value


def _keep_trailing_comments(node: Any, key: Any, prev: Any, slot: int) -> None:
    """Before deleting `key`: hand the blank lines and comments that follow its line to the entry before it.

    ruamel stores those lines on the entry above them (its end-of-line comment token, slot 2 in a mapping and
    0 in a list); deleting the entry would silently take the blank line or comment below it along.
    """
    token = node.ca.items.get(key)
    if not token or token[slot] is None or prev is None:
        return
    rest = token[slot].value.partition("\n")[2]  # the first line is the deleted entry's own end-of-line comment
    if not rest:
        return
    before = node.ca.items.setdefault(prev, [None, None, None, None])
    if before[slot] is None:
        before[slot] = CommentToken("\n" + rest, CommentMark(0), None)
    else:
        before[slot].value += rest


def _assign(node: Any, key: str | int, value: Any) -> None:
    if isinstance(node, CommentedSeq) and key == len(node):
        node.append(value)
    else:
        node[key] = value


def _first_missing(doc: Any, path: tuple[str | int, ...]) -> Any:
    """The mapping/list where setting `path` adds its first new entry (None when every step of it exists)."""
    node = doc
    for seg in path:
        if isinstance(node, CommentedMap) and isinstance(seg, str) and node.get(seg) is not None:
            node = node[seg]
        elif isinstance(node, CommentedSeq) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            return node if isinstance(node, (CommentedMap, CommentedSeq)) else None
    return None


def _last_entry(node: Any) -> tuple[Any, Any, int] | None:
    """(container, key, comment slot) of the last line of a block mapping/list, nested values followed down."""
    found: tuple[Any, Any, int] | None = None
    while isinstance(node, (CommentedMap, CommentedSeq)) and len(node) and not node.fa.flow_style():
        key = next(reversed(node)) if isinstance(node, CommentedMap) else len(node) - 1
        slot = 2 if isinstance(node, CommentedMap) else 0
        found = (node, key, slot)
        node = node[key]
    return found


def keep_trailing_lines_last(node: Any, add: Any) -> None:
    """Run `add` (which appends an entry to the block mapping/list `node`), keeping the blank lines and comments
    that followed `node`'s last line after the new last entry.

    ruamel keeps the lines below an entry on that entry's end-of-line comment token, so an entry appended after it
    would otherwise land below them: the blank line between two routes moves up into the step that was edited.
    """
    before = _last_entry(node)
    token = before[0].ca.items.get(before[1]) if before is not None else None
    add()
    if before is None or not token or token[before[2]] is None:
        return
    value = token[before[2]].value
    if isinstance(before[0][before[1]], (LiteralScalarString, FoldedScalarString)):
        own, rest = "", value  # a block scalar ends its own line: every line of the token comes after it
    else:
        own, newline, rest = value.partition("\n")  # the first line is the entry's end-of-line comment
        own += newline
    after = _last_entry(node)
    if not rest or after is None or after[:2] == before[:2]:
        return
    if own:
        token[before[2]].value = own
    else:
        token[before[2]] = None
    items = after[0].ca.items.setdefault(after[1], [None, None, None, None])
    if items[after[2]] is None:
        items[after[2]] = CommentToken("\n" + rest, CommentMark(0), None)
    else:
        items[after[2]].value += rest


def _delete(node: Any, key: str | int) -> None:
    if isinstance(node, CommentedMap):
        if key in node:
            keys = list(node)
            at = keys.index(key)
            _keep_trailing_comments(node, key, keys[at - 1] if at else None, slot=2)
            del node[key]
    elif isinstance(key, int) and 0 <= key < len(node):
        _keep_trailing_comments(node, key, key - 1 if key else None, slot=0)
        del node[key]


def set_path(doc: CommentedMap, path: tuple[str | int, ...], value: Any, label: str) -> None:
    """Set (or, with DELETE, remove) the entry at `path`, creating mappings/lists on the way.

    A path that runs through a scalar, uses a key on a list or an index past a list's end is refused with a
    located ProfileError rather than overwriting what is there.
    """
    if not path:
        raise ValueError("an update path must name at least one key")
    grows = _first_missing(doc, path) if value is not DELETE else None
    if grows is not None:  # a new entry goes at the end of `grows`: the lines below its last one stay below
        keep_trailing_lines_last(grows, lambda: _set_path(doc, path, value, label))
    else:
        _set_path(doc, path, value, label)


def _set_path(doc: CommentedMap, path: tuple[str | int, ...], value: Any, label: str) -> None:
    node: Any = doc
    pos = node_pos(doc)
    for i, seg in enumerate(path):
        fits_map = isinstance(node, CommentedMap) and isinstance(seg, str)
        fits_seq = isinstance(node, CommentedSeq) and isinstance(seg, int) and 0 <= seg <= len(node)
        if not (fits_map or fits_seq):
            found = "a list" if isinstance(node, CommentedSeq) else "a mapping"
            found = found if isinstance(node, (CommentedMap, CommentedSeq)) else f"the value {show(node)}"
            wanted = f"an index from 0 to {len(node)}" if isinstance(node, CommentedSeq) else "a key"
            here = dotted(path[: i + 1])
            raise one_problem(label, pos, here, f"cannot set this: its parent is {found} (expected {wanted})")
        if i == len(path) - 1:
            if value is DELETE:
                _delete(node, seg)
            else:
                _assign(node, seg, to_yaml_value(value))
            return
        child = node.get(seg) if isinstance(node, CommentedMap) else node[seg] if int(seg) < len(node) else None
        if child is None:  # missing or empty (`headers:`): create what the rest of the path needs
            child = CommentedMap() if isinstance(path[i + 1], str) else CommentedSeq()
            _assign(node, seg, child)
        else:
            try:  # where the child sits, for a message if the rest of the path does not fit it
                spot = node.lc.key(seg) if isinstance(node, CommentedMap) else node.lc.item(seg)
                pos = (spot[0] + 1, spot[1] + 1)
            except (KeyError, TypeError, AttributeError):
                pass
        node = child


def dump(yaml: YAML, doc: Any, original: str) -> str:
    """The document as text, with the line endings `original` used."""
    buf = io.StringIO()
    yaml.dump(doc, buf)
    text = buf.getvalue()
    if "\r\n" in original:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text
