"""Tools for agents: MCP servers through the official `mcp` SDK, and the demo order-desk server.

- `workbench.tools.specs`: typed values (`ServerSpec`, `ToolDef`, `ToolResult`), no I/O.
- `workbench.tools.servers`: `ToolServers`, the process-wide registry of MCP connections (an async context
  manager the engine owns), `ToolServerError`.
- `workbench.tools.demo_server`: `workbench demo-mcp`, an MCP server over a small in-memory order book.
- `workbench.tools.plugins`: `TOOLS`, the `workbench.tools` entry-point group (`ToolPlugin`: tools other packages add).

Importing this package imports neither the SDK nor anything that does I/O.
"""

from __future__ import annotations

from workbench.tools.plugins import TOOLS, ToolPlugin
from workbench.tools.specs import ServerSpec, ToolDef, ToolResult, ToolStatus, parse_server_option

__all__ = [
    "TOOLS",
    "ServerSpec",
    "ToolDef",
    "ToolPlugin",
    "ToolResult",
    "ToolStatus",
    "parse_server_option",
    "demo_server_spec",
]


def demo_server_spec(name: str = "orders", *, latency_ms: int = 0) -> ServerSpec:
    """The demo order desk as a stdio server, run by this interpreter from this copy of workbench (PYTHONPATH
    points at it, so a checkout runs its own code)."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent.parent)
    command = [sys.executable, "-m", "workbench", "demo-mcp"]
    if latency_ms:
        command += ["--latency-ms", str(latency_ms)]
    return ServerSpec(name, command=tuple(command), env={"PYTHONPATH": root})
