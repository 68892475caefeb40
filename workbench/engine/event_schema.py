"""The JSON Schema of the event stream (v3), built from the event dataclasses themselves so it cannot drift.

`event_schema()` is what `workbench events schema` prints: one definition per event type (`type` a const,
`schema_version` 2 or 3 for the types v2 had and 3 for those v3 added, enums as `enum` lists, every field
`to_dict` writes required except those v3 added to a v2 type, so a saved v2 line still validates), plus the typed
records they carry — `usage` (token buckets), `cost` (money as exact decimal strings) and `price` (the price
entry used). `cost_usd` is the convenience JSON number beside the exact `cost.total`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from decimal import Decimal
from enum import Enum
from typing import Any

from workbench.engine.events import EVENT_TYPES, READABLE_VERSIONS, SCHEMA_VERSION, Event

#: event types that first appeared in v3 (the rest date from v2)
V3_TYPES = {"tool_call": 3, "unsupported_content": 3}

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
_DECIMAL_TEXT = {"type": "string", "pattern": DECIMAL_PATTERN, "description": "an exact decimal number, as text"}
_INT = {"type": "integer", "minimum": 0}

USAGE: dict[str, Any] = {
    "type": "object",
    "description": "normalized token buckets (workbench.accounting.usage.Usage)",
    "properties": {
        "input_tokens": _INT,
        "cache_read_tokens": _INT,
        "cache_write_5m_tokens": _INT,
        "cache_write_1h_tokens": _INT,
        "output_tokens": _INT,
        "reasoning_tokens": _INT,
        "input_source": {"type": "string"},
        "output_source": {"type": "string"},
        "estimated_input_tokens": {"type": ["integer", "null"]},
        "estimated_output_tokens": {"type": ["integer", "null"]},
    },
    "required": ["input_tokens", "output_tokens"],
}
COST: dict[str, Any] = {
    "type": "object",
    "description": "money as exact decimal strings; `cost_usd` beside it is the same total as a JSON number",
    "properties": {
        "total": _DECIMAL_TEXT,
        "breakdown": {"type": "object", "additionalProperties": _DECIMAL_TEXT},
        "price_effective": {"type": ["string", "null"]},
        "tier": {"type": ["integer", "null"]},
    },
    "required": ["total"],
}
_RATE = {"anyOf": [_DECIMAL_TEXT, {"type": "null"}]}
PRICE: dict[str, Any] = {
    "type": "object",
    "description": "the price entry a hop was costed with: USD per 1M tokens, as exact decimal strings",
    "properties": {
        "effective": {"type": "string", "format": "date"},
        "source": {"type": ["string", "null"]},
        "input": _DECIMAL_TEXT,
        "output": _DECIMAL_TEXT,
        "cached_input": _RATE,
        "cache_write_5m": _RATE,
        "cache_write_1h": _RATE,
        "reasoning": _RATE,
        "tiers": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["input", "output"],
}
_RECORDS = {"usage": "usage", "cost": "cost", "price": "price"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema:
        return {**schema, "type": [schema["type"], "null"], "enum": [*schema["enum"], None]}
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _schema_of(tp: Any, name: str) -> dict[str, Any]:
    if name in _RECORDS and typing.get_origin(tp) in (typing.Union, types.UnionType):
        return _nullable({"$ref": f"#/$defs/{_RECORDS[name]}"})
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _schema_of(args[0], name) if len(args) == 1 else {"anyOf": [_schema_of(a, name) for a in args]}
        return _nullable(inner) if type(None) in typing.get_args(tp) else inner
    if origin is typing.Literal:
        return {"type": "string", "enum": list(typing.get_args(tp))}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is Decimal:
        return {"type": "number", "description": "convenience float of the exact decimal in `cost.total`"}
    if tp is str:
        return {"type": "string"}
    if origin is dict:
        value = typing.get_args(tp)[1]
        return {"type": "object"} if value is Any else {"type": "object", "additionalProperties": _schema_of(value, "")}
    if origin is list:
        return {"type": "array", "items": _schema_of(typing.get_args(tp)[0], "")}
    return {}


def _event_def(cls: type[Event]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    since = V3_TYPES.get(cls.type, 2)
    versions = [v for v in READABLE_VERSIONS if v >= since]
    props: dict[str, Any] = {
        "type": {"const": cls.type},
        "schema_version": {"const": versions[0]} if len(versions) == 1 else {"enum": versions},
    }
    newer: list[str] = []
    for f in fields(cls):
        props[f.name] = _schema_of(hints[f.name], f.name)
        if f.metadata.get("since", since) > since:
            newer.append(f.name)
    doc = (cls.__doc__ or "").strip()
    out: dict[str, Any] = {
        "type": "object",
        "title": cls.type,
        "properties": props,
        # every field `to_dict` writes, except those a later version added to an older type (a v2 line lacks them)
        "required": [name for name in props if name not in newer],
        "additionalProperties": False,
    }
    if doc and not doc.startswith(cls.__name__ + "("):
        out["description"] = doc
    return out


def event_schema() -> dict[str, Any]:
    """The JSON Schema every line of `workbench run --json` (every `Event.to_dict()`) validates against."""
    defs: dict[str, Any] = {name: _event_def(cls) for name, cls in EVENT_TYPES.items()}
    defs.update({"usage": USAGE, "cost": COST, "price": PRICE})
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": f"workbench events (schema_version {SCHEMA_VERSION})",
        "description": "one JSON object per event; `type` says which definition applies",
        "oneOf": [{"$ref": f"#/$defs/{name}"} for name in EVENT_TYPES],
        "$defs": defs,
    }
