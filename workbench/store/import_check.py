"""Checking an import before it touches the database: every row against the schema, every run against the
store's invariants.

A row is checked column by column (text is text, a count is a non-negative integer, a timestamp a finite number
of seconds between 1970 and 9999, a duration a finite non-negative number, an exact cost a finite decimal
string, a JSON column valid JSON text). A run is then checked whole with its hops, messages and decisions: its
`cost_exact` is the exact sum of its hops', `hop_count` matches the hops present, its conversation starts with
the prompt. Each check answers with a reason in words (or None), which the importer reports beside what it
rejected; nothing here raises.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["COLUMN_KINDS", "check_row", "check_run", "printable"]

MAX_TS = 253402300799.0  # 9999-12-31T23:59:59Z: the last second a timestamp can be shown as a date
MAX_MS = 1e12  # about 31 years, in milliseconds
MAX_INT = 2**63 - 1  # SQLite's integer range

_TEXT = {
    "profiles": ("path",),
    "sessions": ("created_at", "notes", "profile_hash"),
    "runs": (
        "session",
        "route",
        "profile",
        "profile_hash",
        "profile_path",
        "prompt",
        "output",
        "error",
        "started_at",
        "reason",
    ),
    "hops": (
        "parent_id",
        "name",
        "provider",
        "model",
        "model_id",
        "error_class",
        "error",
        "reason",
        "usage_input_source",
        "usage_output_source",
        "output",
        "role",
        "check_name",
        "verdict",
        "detail",
    ),
    "messages": ("content", "hop_id"),
    "decisions": ("hop_id", "action", "reason", "target"),
}
_REQUIRED_TEXT = {
    "profiles": ("sha256", "text"),
    "sessions": ("name",),
    "runs": ("id", "status"),
    "hops": ("run_id", "hop_id", "kind", "status"),
    "messages": ("run_id", "role"),
    "decisions": ("run_id",),
}
_TS = {
    "profiles": ("first_seen_ts",),
    "sessions": ("created_ts",),
    "runs": ("started_ts", "ended_ts"),
    "hops": ("started_ts", "first_token_ts", "ended_ts"),
    "decisions": ("ts",),
}
_MS = {"runs": ("latency_ms", "ttft_ms"), "hops": ("latency_ms", "ttft_ms", "engine_ms")}
_COUNT = {
    "runs": ("input_tokens", "output_tokens", "hop_count"),
    "hops": (
        "input_tokens",
        "output_tokens",
        "usage_input",
        "usage_cache_read",
        "usage_cache_write_5m",
        "usage_cache_write_1h",
        "usage_output",
        "usage_reasoning",
        "estimated_input_tokens",
        "estimated_output_tokens",
    ),
}
_INT = {
    "runs": ("event_schema", "session_turn"),
    "hops": ("seq", "attempt", "target_index"),
    "messages": ("seq",),
    "decisions": ("seq",),
}
_REQUIRED_INT = {"messages": ("seq",), "decisions": ("seq",)}
_FLAG = {"runs": ("estimated",), "hops": ("retryable",)}
_MONEY = {"runs": ("cost_usd",), "hops": ("cost_usd",)}
_DECIMAL = {"runs": ("cost_exact",), "hops": ("cost_exact",)}
_JSON = {"hops": ("cost_detail", "price", "data"), "decisions": ("data",), "runs": ("metadata",)}
_NUMBER = {"hops": ("retry_after_s", "score")}

#: table -> column -> kind of value it must hold
COLUMN_KINDS: dict[str, dict[str, str]] = {}
for _kind, _spec in (
    ("text", _TEXT),
    ("text!", _REQUIRED_TEXT),
    ("ts", _TS),
    ("ms", _MS),
    ("count", _COUNT),
    ("int", _INT),
    ("int!", _REQUIRED_INT),
    ("flag", _FLAG),
    ("money", _MONEY),
    ("decimal!", _DECIMAL),
    ("json", _JSON),
    ("number", _NUMBER),
):
    for _table, _cols in _spec.items():
        for _col in _cols:
            COLUMN_KINDS.setdefault(_table, {})[_col] = _kind


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _check_value(kind: str, value: Any) -> str | None:
    """What is wrong with `value` for a column of `kind`, or None."""
    if value is None:
        return "is missing" if kind.endswith("!") else None
    if kind in ("text", "text!"):
        return None if isinstance(value, str) else f"is {_show(value)}, not text"
    if kind == "ts":
        if not _number(value) or not 0 <= value <= MAX_TS:
            return f"is {_show(value)}, not a timestamp (seconds since 1970, up to the year 9999)"
        return None
    if kind == "ms":
        if not _number(value) or not 0 <= value <= MAX_MS:
            return f"is {_show(value)}, not a duration in milliseconds"
        return None
    if kind in ("count", "int", "int!"):
        if type(value) is not int or not -MAX_INT <= value <= MAX_INT:
            return f"is {_show(value)}, not an integer"
        if kind == "count" and value < 0:
            return f"is {value}, a negative count"
        return None
    if kind == "flag":
        return None if value in (0, 1) and type(value) is not float else f"is {_show(value)}, not 0 or 1"
    if kind == "number":
        return None if _number(value) else f"is {_show(value)}, not a finite number"
    if kind == "money":
        return None if _number(value) and value >= 0 else f"is {_show(value)}, not an amount in USD"
    if kind == "decimal!":
        amount = _decimal(value)
        return None if amount is not None and amount >= 0 else f"is {_show(value)}, not an exact amount in USD"
    if kind == "json":
        if not isinstance(value, str):
            return f"is {_show(value)}, not JSON text"
        try:
            json.loads(value)
        except (ValueError, RecursionError):
            return "is not valid JSON text"
        return None
    return None


def _decimal(value: Any) -> Decimal | None:
    if not isinstance(value, str) or len(value) > 100:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def printable(text: str) -> str:
    """`text` safe to print or store: a lone surrogate (JSON allows `"\\ud800"`, UTF-8 does not) as `\\ud800`."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _not_utf8(value: str) -> str | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not UTF-8 text (a lone surrogate {printable(value[exc.start])} at position {exc.start})"
    return None


def check_row(table: str, row: dict[str, Any]) -> str | None:
    """The first problem with one row of `table` (its columns' types and ranges), or None."""
    for column, value in row.items():
        problem = _not_utf8(value) if isinstance(value, str) else None
        if problem is not None:
            return f"{printable(column)} {problem}"
    for column, kind in COLUMN_KINDS.get(table, {}).items():
        problem = _check_value(kind, row.get(column))
        if problem is not None:
            return f"{column} {problem}"
    return None


def check_run(
    run: dict[str, Any],
    hops: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
) -> str | None:
    """The first problem with a run taken whole (rows already checked one by one), or None."""
    for table, rows in (("runs", [run]), ("hops", hops), ("messages", messages), ("decisions", decisions)):
        for row in rows:
            problem = check_row(table, row)
            if problem is not None:
                where = "" if table == "runs" else f" ({table[:-1]} {_key(table, row)})"
                return f"{problem}{where}"
    hop_ids = [h["hop_id"] for h in hops]
    if len(set(hop_ids)) != len(hop_ids):
        return "holds the same hop twice"
    for table, rows in (("messages", messages), ("decisions", decisions)):
        seqs = [r["seq"] for r in rows]
        if len(set(seqs)) != len(seqs):
            return f"holds the same {table[:-1]} seq twice"
    if run.get("hop_count") is not None and run["hop_count"] != len(hops):
        return f"is incomplete: it has {run['hop_count']} hop(s) but the file holds {len(hops)}"
    if not any(m["seq"] == 0 and m["role"] == "user" for m in messages):
        return "is incomplete: its prompt message is missing"
    total = sum((_decimal(h["cost_exact"]) or Decimal(0) for h in hops), Decimal(0))
    exact = _decimal(run["cost_exact"])
    if exact != total:
        return f"cost_exact {run['cost_exact']} is not the sum of its hops' costs ({total})"
    cost_usd = run.get("cost_usd")
    if cost_usd is not None and not math.isclose(cost_usd, float(total), rel_tol=1e-9, abs_tol=1e-12):
        return f"cost_usd {cost_usd} does not match its exact cost {total}"
    return None


def _key(table: str, row: dict[str, Any]) -> str:
    return printable(str(row.get("hop_id") if table == "hops" else row.get("seq")))
