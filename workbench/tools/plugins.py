"""Tools as plugins: the `workbench.tools` entry point group (the generic registry is `workbench.plugins`).

The seam only: agents that call tools come with the next issue, which fills this group and decides how a profile
names tools. A `ToolPlugin` is what a `workbench.tools` entry point names: its name, a description for the model,
the JSON Schema of its arguments, and `call(arguments) -> str` (awaited; the result text goes back to the model).
Workbench has no built-in tools yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from workbench.plugins import TOOLS as GROUP
from workbench.plugins import Registry, check_type

__all__ = ["TOOLS", "ToolPlugin"]


class ToolPlugin:
    """One tool: `parameters` is the JSON Schema (an object schema) of its arguments."""

    def __init__(
        self,
        name: str,
        *,
        description: str,
        parameters: Mapping[str, Any],
        call: Callable[[dict[str, Any]], Awaitable[str]],
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = dict(parameters)
        self._call = call

    def __repr__(self) -> str:
        return f"<ToolPlugin {self.name!r}>"

    async def call(self, arguments: dict[str, Any]) -> str:
        return await self._call(arguments)


#: every installed tool (from `workbench.tools` entry points; none built in yet)
TOOLS: Registry[ToolPlugin] = Registry(GROUP, "tool", check_type(ToolPlugin))
