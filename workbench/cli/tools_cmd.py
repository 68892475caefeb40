"""`workbench tools list` (the tools MCP servers offer, with their schemas) and `workbench demo-mcp` (the demo
order-desk MCP server). Servers are named on the command line for now (`--mcp NAME="COMMAND ARGS"`,
`--mcp-url NAME=URL`); a server that cannot start exits 2 naming its command or URL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from workbench.errors import WorkbenchError


@click.group()
def tools() -> None:
    """Tools an agent can use: the MCP servers' tools and their schemas."""


@tools.command("list")
@click.option(
    "--mcp",
    "stdio_servers",
    multiple=True,
    metavar='NAME="COMMAND ARGS"',
    help="An MCP server run over stdio (repeatable). `--mcp demo` is the demo order desk (`workbench demo-mcp`).",
)
@click.option(
    "--mcp-url", "http_servers", multiple=True, metavar="NAME=URL", help="An MCP server over streamable HTTP."
)
@click.option("--connect-timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for a server.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: each tool's name, description, parameters, server.")
def list_cmd(
    stdio_servers: tuple[str, ...], http_servers: tuple[str, ...], connect_timeout: float, as_json: bool
) -> None:
    """List every tool of the MCP servers named, with its JSON Schema."""
    from workbench.tools import demo_server_spec, parse_server_option

    specs = []
    try:
        for text in stdio_servers:
            specs.append(demo_server_spec("demo") if text == "demo" else parse_server_option(text))
        specs.extend(parse_server_option(text, url=True) for text in http_servers)
    except ValueError as exc:
        raise WorkbenchError(f"--mcp: {exc}", title="bad option") from None
    if not specs:
        raise WorkbenchError(
            'name at least one MCP server: --mcp NAME="COMMAND ARGS" or --mcp-url NAME=URL',
            hint="e.g. `workbench tools list --mcp demo` lists the demo order desk's tools",
            title="no MCP server",
        )
    names = [s.name for s in specs]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise WorkbenchError(f"MCP server name {duplicate!r} is given twice", title="bad option")
    found = asyncio.run(_list(specs, connect_timeout))
    if as_json:
        click.echo(json.dumps([t.as_dict() | {"server": t.server} for ts in found.values() for t in ts], indent=2))
        return
    _print_table(found)


async def _list(specs: list[Any], connect_timeout: float) -> dict[str, Any]:
    from workbench.tools.servers import ToolServers

    async with ToolServers(specs, connect_timeout=connect_timeout) as servers:
        return await servers.all_tools()


def _param_lines(schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    lines = []
    for name, prop in props.items():
        kind = prop.get("type")
        if kind is None and "anyOf" in prop:
            kind = " | ".join(str(p.get("type", "?")) for p in prop["anyOf"])
        line = f"{name}: {kind or 'any'}" + ("" if name in required else " (optional)")
        if "default" in prop and prop["default"] is not None:
            line += f" = {prop['default']!r}"
        if prop.get("examples"):
            line += f"  e.g. {json.dumps(prop['examples'][0])}"
        lines.append(line)
    return "\n".join(lines) or "(none)"


def _print_table(found: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for server, defs in found.items():
        table = Table(
            title=f"MCP server {server}: {len(defs)} tool{'s' if len(defs) != 1 else ''}", title_justify="left"
        )
        table.add_column("tool", style="bold", no_wrap=True)
        table.add_column("description", ratio=3)
        table.add_column("parameters (JSON Schema)", ratio=2)
        for tool in defs:
            table.add_row(tool.name, tool.description or "-", _param_lines(tool.as_dict()["parameters"]))
        console.print(table)


@click.command("demo-mcp")
@click.option(
    "--http",
    "http_port",
    type=click.IntRange(1, 65535),
    default=None,
    metavar="PORT",
    help="Serve streamable HTTP on http://127.0.0.1:PORT/mcp instead of stdio.",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(0, 600_000),
    default=0,
    show_default=True,
    help="Every tool call waits this long first, like a real back end.",
)
def demo_mcp(http_port: int | None, latency_ms: int) -> None:
    """The demo MCP server: an order desk (lookup_order, list_orders, refund_order) over stdio, or --http."""
    if http_port is not None:
        _check_port_free(http_port)
    from workbench.tools.demo_server import serve

    try:
        serve(http_port=http_port, latency_ms=latency_ms)
    except KeyboardInterrupt:
        pass


def _check_port_free(port: int) -> None:
    """A port in use is a one-line error (exit 2) before the server starts, not uvicorn's log and exit 3."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise WorkbenchError(
                f"demo-mcp --http {port}: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                hint="pick another port",
                title="port unavailable",
            ) from None
