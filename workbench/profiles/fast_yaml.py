"""The fast path of profile loading: plain data from libyaml (PyYAML's C parser), or None to take the slow path.

ruamel.yaml's round-trip loader is pure Python: on the demo profile it spends 70-100 ms parsing, the largest part of
start-up after the imports. libyaml parses the same text in about 2 ms. The round-trip tree is only needed to
*edit* a profile (the composer, `save_profile`) or to *locate* a problem (file:line:col), so a load tries this first
and builds the round-trip tree only when something is wrong or a position is asked for.

The fast path must never accept a file the round-trip path refuses, nor read a value differently. So it is
deliberately narrow and gives up (returns None) on anything it does not read exactly as ruamel's YAML 1.2 does:

- plain scalars are resolved here, not by PyYAML's YAML 1.1 table (where `yes`, `on`, `0777` and `1:30` are not
  strings): only `null`/`~`/empty, `true`/`false`, decimal integers, `1.5`-style floats and `YYYY-MM-DD` dates are
  typed; any other plain scalar that ruamel's 1.2 resolver would type (`0o17`, `1e3`, `.inf`, `<<`, timestamps
  with a time) gives up, everything else is a string as in ruamel;
- an explicit tag (`!!set`, `!foo`), a duplicate key (also spelt twice: `true`/`True`), a `%YAML` directive, nesting deeper than `yaml_doc.MAX_DEPTH` (checked on libyaml's
  event stream before anything is built, so the C composer never recurses that deep), more than one document, or
  any error at all gives up; the round-trip path then reports it with its position, as it always did;
- anchors and aliases are built as shared objects; `yaml_doc.plain` then copies them out under the same node
  budget ("billion laughs") and cycle check as the round-trip path, and a refusal gives up too.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from workbench.profiles.yaml_doc import MAX_DEPTH, MAX_NODES, plain

try:  # PyYAML with libyaml; without it every load takes the round-trip path
    import yaml as _yaml  # type: ignore[import-untyped]

    _Base: Any = _yaml.CSafeLoader
except (ImportError, AttributeError):  # pragma: no cover - depends on the installation
    _yaml = None
    _Base = object


class _GiveUp(Exception):
    """This text is not for the fast path; the round-trip path reads it."""


_STR, _NULL, _BOOL, _INT, _FLOAT, _DATE = (
    "tag:yaml.org,2002:" + t for t in ("str", "null", "bool", "int", "float", "timestamp")
)
# (tag, pattern) for the plain scalars read here; each reads the same under YAML 1.1 (PyYAML's constructors) and 1.2
_SAFE = (
    (_NULL, re.compile(r"~|null|Null|NULL|")),
    (_BOOL, re.compile(r"true|True|TRUE|false|False|FALSE")),
    (_INT, re.compile(r"[-+]?(?:0|[1-9][0-9]{0,17})")),  # fits in 18 digits: far from Python's 4300-digit limit
    (_FLOAT, re.compile(r"[-+]?[0-9]+\.[0-9]+")),
    (_DATE, re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")),
)


def _ruamel_types(value: str) -> bool:
    """Whether ruamel's YAML 1.2 resolver gives this plain scalar any tag but str (imported only when needed)."""
    from ruamel.yaml.resolver import implicit_resolvers

    for versions, _tag, regexp, first in implicit_resolvers:
        if (1, 2) in versions and (value[:1] in first or (not value and "" in first)) and regexp.match(value):
            return True
    return False


_QUICK_STR = re.compile(r"[A-Za-z_/$][^\n]*")  # a plain scalar starting so is a string for ruamel unless listed


class _Loader(_Base):  # type: ignore[misc]
    def resolve(self, kind: Any, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is not _yaml.ScalarNode:
            return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]
        if not implicit[0]:  # quoted (or block) scalar: a string, as in ruamel
            return _STR
        for tag, pattern in _SAFE:
            if pattern.fullmatch(value):
                return tag
        if value[:1] in "nNtTfFyYoO.~<=!&*" or not _QUICK_STR.fullmatch(value):
            if _ruamel_types(value):
                raise _GiveUp(f"plain scalar {value[:40]!r}")
        return _STR

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, _yaml.ScalarNode):
                raise _GiveUp("a mapping or list used as a key")
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise _GiveUp("duplicate key")
            seen.add(key)
        data = super().construct_mapping(node, deep=deep)
        if len(data) != len(node.value):  # two spellings of one key (`true`/`True`, `1`/`+1`): ruamel refuses that
            raise _GiveUp("duplicate key")
        return data

    def construct_undefined(self, node: Any) -> Any:
        raise _GiveUp(f"tag {node.tag}")


_KEPT = (_STR, _NULL, _BOOL, _INT, _FLOAT, _DATE, "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
if _yaml is not None:
    # an explicit tag (`!!set`, `!!binary`, `!!omap`, `!!python/...`) gives up: ruamel reads those its own way
    for _tag in [*_Loader.yaml_constructors, None]:
        if _tag not in _KEPT:
            _Loader.add_constructor(_tag, _Loader.construct_undefined)


def _date(loader: Any, node: Any) -> dt.date:
    year, month, day = (int(p) for p in node.value.split("-"))
    return dt.date(year, month, day)  # an invalid date raises: the round-trip path names its line


if _yaml is not None:
    _Loader.add_constructor(_DATE, _date)


def _screen(text: str) -> None:
    """Give up before anything is built on: explicit tags, nesting deeper than MAX_DEPTH, several documents."""
    depth = documents = 0
    for event in _yaml.parse(text, Loader=_yaml.CSafeLoader):
        kind = type(event)
        if kind is _yaml.ScalarEvent:
            if event.tag is not None and event.tag != "!":
                raise _GiveUp("explicit tag")
        elif kind is _yaml.MappingStartEvent or kind is _yaml.SequenceStartEvent:
            if event.tag is not None and not event.implicit:
                raise _GiveUp("explicit tag")
            depth += 1
            if depth > MAX_DEPTH:
                raise _GiveUp("too deep")
        elif kind is _yaml.MappingEndEvent or kind is _yaml.SequenceEndEvent:
            depth -= 1
        elif kind is _yaml.DocumentStartEvent:
            if event.version is not None:  # `%YAML 1.1` changes how ruamel types scalars
                raise _GiveUp("YAML version directive")
            documents += 1
            if documents > 1:
                raise _GiveUp("several documents")


def fast_plain(text: str) -> Any | None:
    """The profile text as plain data (dicts, lists, str, int, float, bool, None, date), read as the round-trip path
    reads it; None when this path does not apply or anything is wrong (the caller then takes the round-trip path).
    An empty document is None too: the round-trip path words that message."""
    if _yaml is None:
        return None
    try:
        _screen(text)
        loader = _Loader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
        if data is None:
            return None
        return plain(data, [MAX_NODES])
    except Exception:  # noqa: BLE001 - any doubt: the round-trip path decides, and words the message
        return None
