"""How a simulated model uses the tools a request offers, deterministically.

- It calls a tool whenever tools are offered (and `tool_choice` is not `none`), unless the `call_tools` dial is
  off, or the conversation's last turn is a tool result — then it answers using the result's text.
- Which tool: the one `tool_choice` names; else one whose name appears in the user's message (the longest such
  name); else the one whose name and description share the most words with the message (ties: the first offered).
- Each argument (the schema's properties, in order): from a `name=value` or `name: value` pair in the user's
  message (a quoted value may hold spaces), converted to the property's type; else the schema's `default`, its
  first `examples` value, its first `enum` value; else a placeholder of the property's type.
- Dials (`SimBehaviour`): `parallel_tool_calls` calls the two best-matching tools in one turn (the one tool
  twice when only one is offered; never when the request disallows parallel calls), `tool_argument_pieces`
  streams each call's arguments over that many deltas; faults `tool_arguments_malformed` (arguments cut short:
  not valid JSON) and `tool_unknown` (a tool name the request never offered).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from workbench.providers.base import ChatRequest
from workbench.providers.content import Message, ToolCall, ToolSpec

__all__ = ["choose_tools", "fill_arguments", "plan_tool_calls", "tool_result_answer", "split_pieces", "UNKNOWN_TOOL"]

UNKNOWN_TOOL = "no_such_tool"
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower().replace("_", " ").replace("-", " ")))


def _score(tool: ToolSpec, text: str, words: set[str]) -> tuple[int, int]:
    named = len(tool.name) if re.search(rf"(?<![\w-]){re.escape(tool.name.lower())}(?![\w-])", text.lower()) else 0
    return named, len(words & (_words(tool.name) | _words(tool.description)))


def choose_tools(request: ChatRequest, text: str, count: int = 1) -> list[ToolSpec]:
    """The `count` best tools for the user's words, best first (see the module doc)."""
    tools = list(request.tools)
    choice = request.tool_choice
    if choice is not None and choice.mode == "tool":
        named = [t for t in tools if t.name == choice.name]
        if named:
            return named * count
    words = _words(text)
    ranked = sorted(range(len(tools)), key=lambda i: (*(-s for s in _score(tools[i], text, words)), i))
    best = [tools[i] for i in ranked]
    return (best * count)[:count]


def _pair(name: str, text: str) -> str | None:
    found = re.search(
        rf"(?<![\w-]){re.escape(name)}\s*[=:]\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s,;]+))", text, flags=re.IGNORECASE
    )
    if found is None:
        return None
    return next(g for g in found.groups() if g is not None).rstrip(".!?")


def _typed(raw: str, spec: Mapping[str, Any]) -> Any:
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            return raw.lower() in ("true", "yes", "1", "on")
        if kind in ("array", "object"):
            value = json.loads(raw)
            return value if isinstance(value, list if kind == "array" else dict) else raw
    except ValueError:
        return raw  # the user's words, as written: a model passes on what it was told
    return raw


_PLACEHOLDER: dict[str, Any] = {"integer": 0, "number": 0.0, "boolean": False, "array": [], "object": {}, "null": None}


def fill_arguments(tool: ToolSpec, text: str) -> dict[str, Any]:
    """The arguments a simulated model writes for `tool`, given the user's message (see the module doc)."""
    out: dict[str, Any] = {}
    for name, raw_spec in tool.properties().items():
        spec = raw_spec if isinstance(raw_spec, Mapping) else {}
        given = _pair(name, text)
        if given is not None:
            out[name] = _typed(given, spec)
        elif "default" in spec:
            out[name] = spec["default"]
        elif isinstance(spec.get("examples"), (list, tuple)) and spec["examples"]:
            out[name] = spec["examples"][0]
        elif isinstance(spec.get("enum"), (list, tuple)) and spec["enum"]:
            out[name] = spec["enum"][0]
        else:
            kind = spec.get("type")
            if isinstance(kind, (list, tuple)):
                kind = next((k for k in kind if k != "null"), "string")
            out[name] = _PLACEHOLDER.get(str(kind), f"<{name}>")
    thawed: dict[str, Any] = _thawed(out)
    return thawed


def _thawed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thawed(v) for v in value]
    return value


def last_tool_results(request: ChatRequest) -> list[Message]:
    """The tool results the conversation ends with (empty when its last turn is not one)."""
    out: list[Message] = []
    for message in reversed(request.messages):
        if message.role != "tool":
            break
        out.append(message)
    return out[::-1]


def plan_tool_calls(
    request: ChatRequest,
    text: str,
    *,
    parallel: bool,
    malformed: bool,
    unknown: bool,
    new_id: Any,
) -> tuple[ToolCall, ...]:
    """The calls a simulated model makes for `request` (empty when it answers in text instead)."""
    if not request.tools or last_tool_results(request):
        return ()
    if request.tool_choice is not None and request.tool_choice.mode == "none":
        return ()
    count = 2 if parallel and request.parallel_tool_calls is not False else 1
    calls = []
    for tool in choose_tools(request, text, count):
        arguments = json.dumps(fill_arguments(tool, text), separators=(",", ":"), ensure_ascii=False)
        if malformed:
            arguments = arguments[:-1]  # the closing brace never came
        calls.append(ToolCall(new_id(), UNKNOWN_TOOL if unknown else tool.name, arguments))
    return tuple(calls)


def tool_result_answer(request: ChatRequest) -> str | None:
    """After tool results, the answer that uses them (None when the last turn is not a tool result)."""
    results = last_tool_results(request)
    if not results:
        return None
    said = []
    for result in results:
        name = result.name or "the tool"
        if result.is_error:
            said.append(f"{name} failed: {result.content.strip()}")
        else:
            said.append(f"According to {name}: {result.content.strip()}")
    return "\n".join(said)


def split_pieces(text: str, pieces: int) -> list[str]:
    """`text` cut into `pieces` non-empty parts of near-equal length (fewer when it is shorter)."""
    pieces = max(1, min(pieces, len(text)))
    if pieces == 1:
        return [text]
    size, extra = divmod(len(text), pieces)
    out, at = [], 0
    for i in range(pieces):
        step = size + (1 if i < extra else 0)
        out.append(text[at : at + step])
        at += step
    return out
