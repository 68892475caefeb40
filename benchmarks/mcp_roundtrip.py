"""MCP round trip: a tool call to the demo server over stdio against a direct Python call of the same function.

The demo order desk (`workbench demo-mcp`) runs as a real subprocess behind `ToolServers`, exactly as an agent
step will use it; the direct call is `OrderBook.lookup_order` (the method the server's tool runs) in this process.
Both answer the same question (order 1042, read-only, so every call does the same work). The server is started
and warmed up first (its start-up is not a round trip); then, in each round, N MCP calls and N direct calls,
alternating rounds to cancel drift. Prints p50/p95 per call for each and, same run, the ratio of the p50s and the
time the MCP path adds per call (JSON-RPC over pipes, the SDK on both sides, the server's event loop).

Usage: python benchmarks/mcp_roundtrip.py [--n 300] [--rounds 3] [--tool lookup_order|list_orders]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.tools import demo_server_spec  # noqa: E402
from workbench.tools.demo_server import OrderBook  # noqa: E402
from workbench.tools.servers import ToolServers  # noqa: E402

ARGS = {"lookup_order": {"order_id": 1042}, "list_orders": {"customer": "ada@example.com"}}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(n: int, rounds: int, tool: str) -> None:
    arguments = ARGS[tool]
    book = OrderBook()
    direct = getattr(book, tool)
    mcp_times: list[float] = []
    direct_times: list[float] = []
    async with ToolServers([demo_server_spec("orders")], connect_timeout=120) as servers:
        started = time.perf_counter()
        await servers.start("orders")
        start_s = time.perf_counter() - started
        for _ in range(50):  # warm-up: imports, the tools listing the SDK does on first call, caches
            warm = await servers.call_tool("orders", tool, arguments)
            assert warm.status == "ok", warm.text
            direct(**arguments)
        expected = direct(**arguments)
        for _ in range(rounds):
            for _ in range(n):
                t0 = time.perf_counter()
                result = await servers.call_tool("orders", tool, arguments)
                mcp_times.append(time.perf_counter() - t0)
                if result.text != expected:
                    raise SystemExit(f"the MCP answer differs from the direct call's: {result.text!r}")
            for _ in range(n):
                t0 = time.perf_counter()
                direct(**arguments)
                direct_times.append(time.perf_counter() - t0)
        restarts = servers.restarts("orders")

    mcp_p50, direct_p50 = statistics.median(mcp_times), statistics.median(direct_times)
    print(f"MCP round trip vs direct call: {tool}({arguments}), {rounds} rounds x {n} calls each, same run")
    print(f"  server start (once, not counted): {start_s * 1000:.0f} ms; restarts during the run: {restarts}")
    print(f"  direct Python call   p50 {direct_p50 * 1e6:9.1f} us   p95 {pct(direct_times, 0.95) * 1e6:9.1f} us")
    print(f"  MCP over stdio       p50 {mcp_p50 * 1e6:9.1f} us   p95 {pct(mcp_times, 0.95) * 1e6:9.1f} us")
    print(f"  ratio (p50 MCP / p50 direct): {mcp_p50 / direct_p50:,.0f}x")
    print(f"  added per call by MCP (p50): {(mcp_p50 - direct_p50) * 1000:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="calls per round and path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tool", choices=sorted(ARGS), default="lookup_order")
    options = parser.parse_args()
    asyncio.run(main(options.n, options.rounds, options.tool))
