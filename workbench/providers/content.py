"""What a chat carries besides text, typed once for every wire format: messages with tool calls and tool results,
tool definitions, tool choice — immutable and hashable, so a whole `ChatRequest` can key a cache or a proxy's
dedup table — and the assembly of streamed tool-call fragments into whole calls.

Plain text stays plain to write: `Message.user("hi")`, or a dict `{"role": "user", "content": "hi"}` wherever a
request takes messages (it is converted on the way in). Tool turns:

    Message.assistant("", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Paris"}'),))
    Message.tool("call_1", "get_weather", "18C and clear")

JSON values inside (a tool's parameters schema, `extra_body`) are held as `FrozenJSON`: a read-only dict that
hashes by its canonical JSON text and serializes like any dict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

__all__ = [
    "FinishReason",
    "FINISH_REASONS",
    "FrozenJSON",
    "freeze",
    "thaw",
    "ToolSpec",
    "ToolChoice",
    "ToolCall",
    "Message",
    "Role",
    "ToolCallAssembler",
    "MalformedToolCall",
    "coerce_messages",
    "coerce_tools",
    "coerce_tool_choice",
]

#: why a model's turn ended, normalized across wire formats (None: the provider gave none, or one not mapped)
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
FINISH_REASONS: tuple[FinishReason, ...] = ("stop", "length", "tool_calls", "content_filter")
Role = Literal["system", "user", "assistant", "tool"]
_ROLES = frozenset({"system", "user", "assistant", "tool"})


class FrozenJSON(dict[str, Any]):
    """A read-only JSON object: nested objects are FrozenJSON and arrays tuples; hashable by its canonical text.
    Being a dict, it is written by `json.dumps` and read by any code that reads mappings."""

    __slots__ = ("_hash",)

    def __init__(self, value: Mapping[str, Any] | None = None) -> None:
        super().__init__({str(k): freeze(v) for k, v in (value or {}).items()})
        self._hash: int | None = None

    def __hash__(self) -> int:  # type: ignore[override]  # dict is unhashable; this one never changes
        if self._hash is None:
            self._hash = hash(json.dumps(self, sort_keys=True, separators=(",", ":"), default=repr))
        return self._hash

    def _readonly(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("a FrozenJSON is read-only (build a new one)")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly
    __ior__ = _readonly

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenJSON, (thaw(self),))


def freeze(value: Any) -> Any:
    """A JSON value made immutable: objects -> FrozenJSON, arrays -> tuples; scalars as they are."""
    if isinstance(value, FrozenJSON):
        return value
    if isinstance(value, Mapping):
        return FrozenJSON(value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The mutable copy of a frozen JSON value (plain dicts and lists), for code that edits what it sends."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


_EMPTY_OBJECT_SCHEMA = FrozenJSON({"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model: its name, what it does, and its arguments as a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: _EMPTY_OBJECT_SCHEMA)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a tool needs a non-empty name")
        if not isinstance(self.parameters, Mapping):
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON Schema object")
        object.__setattr__(self, "parameters", freeze(self.parameters))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolSpec:
        """From either wire's definition: OpenAI `{"type": "function", "function": {...}}` (or the bare
        function object) or Anthropic `{"name", "description", "input_schema"}`."""
        function = data.get("function", data)
        if not isinstance(function, Mapping):
            raise ValueError("a tool definition must be an object")
        schema = function.get("parameters", function.get("input_schema")) or _EMPTY_OBJECT_SCHEMA
        return cls(str(function.get("name") or ""), str(function.get("description") or ""), schema)

    def as_dict(self) -> dict[str, Any]:
        """`{"name", "description", "parameters"}`: the function object both wires build on (and that
        `workbench.tokens.count_tools` counts)."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def properties(self) -> Mapping[str, Any]:
        props = self.parameters.get("properties")
        return props if isinstance(props, Mapping) else {}


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """Whether and which tool the model must call: `auto` (it decides), `none`, `required` (some tool), or
    `tool` with the one tool's `name`."""

    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "none", "required", "tool"):
            raise ValueError(f"tool_choice must be auto, none, required or a tool's name, not {self.mode!r}")
        if (self.mode == "tool") != bool(self.name):
            raise ValueError("tool_choice names a tool exactly when its mode is 'tool'")

    @classmethod
    def tool(cls, name: str) -> ToolChoice:
        return cls("tool", name)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One whole tool call of an assistant turn. `arguments` is the JSON text the model wrote (an object)."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed(self) -> dict[str, Any]:
        """The arguments as a dict; ValueError when they are not a JSON object."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError(f"tool call {self.name!r}: arguments are a JSON {type(value).__name__}, not an object")
        return value


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. `system`/`user`: text. `assistant`: text and/or tool calls. `tool`: the result of the call
    `tool_call_id` (of tool `name`), `is_error` when the tool failed."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"message role must be one of {', '.join(sorted(_ROLES))}, not {self.role!r}")
        if not isinstance(self.content, str):
            raise ValueError(f"{self.role} message content must be text")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message carries tool calls")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if not isinstance(self.tool_calls, tuple):
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls))

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", text)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", text)

    @classmethod
    def assistant(cls, text: str = "", *, tool_calls: Iterable[ToolCall] = ()) -> Message:
        return cls("assistant", text, tuple(tool_calls))

    @classmethod
    def tool(cls, tool_call_id: str, name: str, content: str, *, is_error: bool = False) -> Message:
        return cls("tool", content, tool_call_id=tool_call_id, name=name, is_error=is_error)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """From an OpenAI-style message dict (what sessions store and most code writes). List content is joined
        from its text parts (a part of another kind, an image, is refused: this contract carries text only, and
        would otherwise drop it silently); `tool_calls` entries are OpenAI's `{"id", "function": {"name",
        "arguments"}}`."""
        role = data.get("role")
        content = data.get("content")
        if isinstance(content, list):
            odd = sorted({str(p.get("type")) for p in content if isinstance(p, Mapping) and p.get("type") != "text"})
            if odd:
                raise ValueError(
                    f"{role} message: content parts of type {', '.join(odd)} are not supported (text only)"
                )
            content = "".join(p.get("text") or "" for p in content if isinstance(p, Mapping))
        calls: list[ToolCall] = []
        for raw in data.get("tool_calls") or ():
            function = raw.get("function", raw)
            arguments = function.get("arguments", "{}")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, separators=(",", ":"))
            calls.append(ToolCall(str(raw.get("id") or ""), str(function.get("name") or ""), arguments))
        return cls(
            role,  # type: ignore[arg-type]  # checked in __post_init__
            "" if content is None else content,
            tuple(calls),
            data.get("tool_call_id"),
            data.get("name"),
            bool(data.get("is_error", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI chat-completions form (also what token estimates count and sessions store)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["content"] = self.content or None
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.role == "tool":
            out["tool_call_id"] = self.tool_call_id
        elif self.name:
            out["name"] = self.name  # a participant's name (OpenAI's `name` on user/assistant turns)
        return out


def coerce_messages(messages: Iterable[Message | Mapping[str, Any]]) -> tuple[Message, ...]:
    return tuple(m if isinstance(m, Message) else Message.from_dict(m) for m in messages)


def coerce_tools(tools: Iterable[ToolSpec | Mapping[str, Any]] | None) -> tuple[ToolSpec, ...]:
    return tuple(t if isinstance(t, ToolSpec) else ToolSpec.from_dict(t) for t in tools or ())


def coerce_tool_choice(choice: ToolChoice | str | None) -> ToolChoice | None:
    if choice is None or isinstance(choice, ToolChoice):
        return choice
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice)  # type: ignore[arg-type]  # narrowed by the test above
    return ToolChoice.tool(choice)


class MalformedToolCall(ValueError):
    """A streamed tool call whose arguments, once whole, are not a JSON object."""


class ToolCallAssembler:
    """Joins `ToolCallDelta` fragments (by `index`) into whole `ToolCall`s, in index order. The id and name
    come with a call's first fragment (a later non-empty one wins); arguments are the fragments concatenated."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, list[Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, index: int, call_id: str | None, name: str | None, fragment: str) -> None:
        entry = self._calls.get(index)
        if entry is None:
            entry = self._calls[index] = [call_id or "", name or "", []]
        else:
            if call_id:
                entry[0] = call_id
            if name:
                entry[1] = name
        if fragment:
            entry[2].append(fragment)

    def calls(self, *, check: bool = True) -> tuple[ToolCall, ...]:
        """The whole calls; with `check`, MalformedToolCall when a call's arguments are not a JSON object
        (an empty argument text counts as `{}`)."""
        out: list[ToolCall] = []
        for index in sorted(self._calls):
            call_id, name, parts = self._calls[index]
            arguments = "".join(parts) or "{}"
            if check:
                try:
                    value = json.loads(arguments)
                except ValueError as exc:
                    raise MalformedToolCall(
                        f"tool call {index} ({name or 'no name'}): arguments are not valid JSON ({exc}):"
                        f" {arguments[:200]!r}"
                    ) from None
                if not isinstance(value, dict):
                    raise MalformedToolCall(
                        f"tool call {index} ({name or 'no name'}): arguments are a JSON {type(value).__name__},"
                        " not an object"
                    )
                if not name:
                    raise MalformedToolCall(f"tool call {index}: no tool name")
            out.append(ToolCall(call_id, name, arguments))
        return tuple(out)
