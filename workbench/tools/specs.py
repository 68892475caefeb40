"""The typed values of the tools layer: where a tool server is (`ServerSpec`), what a tool is (`ToolDef`) and what a
call returned (`ToolResult`). No I/O here and no SDK import: the engine and the UI read these.

`ToolDef` maps 1:1 onto the provider contract's tool definition (`ToolSpec` in `workbench.providers.content`:
`name`, `description`, `parameters` as a JSON Schema object): `ToolDef.as_dict()` is the `{"name", "description",
"parameters"}` object `ToolSpec.from_dict` reads, plus the `server` it comes from, which a request does not carry.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

__all__ = ["ServerSpec", "ToolDef", "ToolResult", "ToolStatus", "parse_server_option"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: how a call ended: the tool answered (`ok`) or answered with an error (`error`), it ran past its timeout
#: (`timeout`), or its server was not there to answer (`unavailable`: could not start, or died during the call)
ToolStatus = Literal["ok", "error", "timeout", "unavailable"]


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One MCP server: run `command` (argv, over stdio) or connect to `url` (streamable HTTP). `env` is added to
    the small default environment the SDK gives a stdio server (PATH, HOME, ...): API keys are not passed on
    unless named here."""

    name: str
    command: tuple[str, ...] = ()
    url: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cwd: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"MCP server name {self.name!r}: use letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        object.__setattr__(self, "command", tuple(str(a) for a in self.command))
        if bool(self.command) == bool(self.url):
            raise ValueError(f"MCP server {self.name!r}: give either a command (stdio) or a url (streamable HTTP)")
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"MCP server {self.name!r}: url {self.url!r} must start with http:// or https://")
        object.__setattr__(self, "env", MappingProxyType({str(k): str(v) for k, v in self.env.items()}))

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command else "http"

    def describe(self) -> str:
        """The command line (quoted as a shell would need it) or the URL: what an error message names."""
        return shlex.join(self.command) if self.command else str(self.url)

    def __hash__(self) -> int:
        return hash((self.name, self.command, self.url, tuple(sorted(self.env.items())), self.cwd))


def parse_server_option(text: str, *, url: bool = False) -> ServerSpec:
    """`NAME=COMMAND ARGS...` (split as a POSIX shell would) or, with `url`, `NAME=URL`: the CLI's `--mcp` and
    `--mcp-url`. ValueError naming what is wrong."""
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest.strip():
        form = "NAME=URL" if url else "NAME=COMMAND [ARGS...]"
        raise ValueError(f"{text!r}: expected {form}")
    if url:
        return ServerSpec(name.strip(), url=rest.strip())
    try:
        argv = shlex.split(rest)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return ServerSpec(name.strip(), command=tuple(argv))


@dataclass(frozen=True, slots=True)
class ToolDef:
    """A tool one server offers: what a model is shown. `parameters` is the tool's JSON Schema (an object
    schema), read-only."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    server: str

    def __post_init__(self) -> None:
        if not isinstance(self.parameters, Mapping):
            raise ValueError(f"tool {self.name!r} of {self.server!r}: its input schema is not a JSON object")
        object.__setattr__(self, "parameters", _frozen(self.parameters))

    def as_dict(self) -> dict[str, Any]:
        """`{"name", "description", "parameters"}` as plain JSON values: the provider contract's tool definition."""
        return {"name": self.name, "description": self.description, "parameters": _plain(self.parameters)}

    def schema_json(self, *, indent: int | None = None) -> str:
        return json.dumps(_plain(self.parameters), indent=indent, sort_keys=True)

    def __hash__(self) -> int:
        return hash((self.server, self.name, self.description, self.schema_json()))


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one call returned. `text` is the result's content as text (non-text parts as a bracketed marker),
    `size` its length in UTF-8 bytes, `latency_s` the wall time of the call as the caller saw it (a restart of
    the server included). `is_error` is true for every status but `ok`: a model is told the call failed."""

    server: str
    tool: str
    text: str
    status: ToolStatus
    latency_s: float
    structured: Mapping[str, Any] | None = None
    size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.text.encode("utf-8")))
        if self.structured is not None:
            object.__setattr__(self, "structured", _frozen(self.structured))

    @property
    def is_error(self) -> bool:
        return self.status != "ok"
