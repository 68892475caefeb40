"""`workbench demo-mcp`: a small MCP server over a deterministic, in-memory order book.

Built with the official MCP SDK's server side (`MCPServer`), over stdio by default or streamable HTTP on loopback
(`--http PORT`, endpoint `/mcp`). It is what the `orders` demo agent talks to, and what the tests and the
MCP round-trip benchmark start as a real subprocess. Three tools:

    lookup_order(order_id)              one order: customer, status, items, total
    list_orders(customer?, status?)     order summaries, filtered
    refund_order(order_id, reason)      refunds a shipped or delivered order (once); the state is per process

A tool that cannot do what it is asked (unknown order, order not refundable) answers with an error result
(`isError`), never a crash. The order book is the same in every process: order ids 1040..1046, fixed totals
(strings, exact to the cent). `--latency-ms` makes every call wait first, like a real back end (the TUI's
waterfall then shows tool hops with a visible duration; the tests use it for timeouts and cancellation).

`OrderBook` is plain Python: the benchmark calls its methods directly to compare with the MCP round trip.
"""

import copy
import json
import sys
from typing import Annotated, Any

from pydantic import Field

__all__ = ["OrderBook", "ORDERS", "OrderError", "STATUSES", "build_server", "serve"]

STATUSES = ("placed", "shipped", "delivered", "refunded", "cancelled")
REFUNDABLE = frozenset({"shipped", "delivered"})

#: the order book every demo server process starts from (never mutated: each OrderBook copies it)
ORDERS: tuple[dict[str, Any], ...] = (
    {
        "order_id": 1040,
        "customer": "ada@example.com",
        "status": "delivered",
        "placed": "2026-11-02",
        "items": [{"sku": "KB-101", "name": "Mechanical keyboard", "qty": 1, "price": "89.00"}],
        "total": "89.00",
    },
    {
        "order_id": 1041,
        "customer": "grace@example.com",
        "status": "shipped",
        "placed": "2026-11-20",
        "items": [{"sku": "MS-220", "name": "Wireless mouse", "qty": 2, "price": "24.50"}],
        "total": "49.00",
    },
    {
        "order_id": 1042,
        "customer": "ada@example.com",
        "status": "delivered",
        "placed": "2026-11-28",
        "items": [
            {"sku": "HP-310", "name": "Noise-cancelling headphones", "qty": 1, "price": "129.90"},
            {"sku": "CB-004", "name": "USB-C cable", "qty": 2, "price": "9.95"},
        ],
        "total": "149.80",
    },
    {
        "order_id": 1043,
        "customer": "linus@example.com",
        "status": "placed",
        "placed": "2026-12-05",
        "items": [{"sku": "MN-270", "name": "27-inch monitor", "qty": 1, "price": "249.00"}],
        "total": "249.00",
    },
    {
        "order_id": 1044,
        "customer": "grace@example.com",
        "status": "refunded",
        "placed": "2026-10-14",
        "items": [{"sku": "DK-050", "name": "Laptop dock", "qty": 1, "price": "119.00"}],
        "total": "119.00",
        "refund": {"refund_id": "R-1044-1", "reason": "arrived damaged", "amount": "119.00"},
    },
    {
        "order_id": 1045,
        "customer": "linus@example.com",
        "status": "cancelled",
        "placed": "2026-11-30",
        "items": [{"sku": "SP-900", "name": "Desk speakers", "qty": 1, "price": "59.00"}],
        "total": "59.00",
    },
    {
        "order_id": 1046,
        "customer": "margaret@example.com",
        "status": "shipped",
        "placed": "2026-12-03",
        "items": [{"sku": "WC-120", "name": "1080p webcam", "qty": 1, "price": "45.00"}],
        "total": "45.00",
    },
)


class OrderError(Exception):
    """What a tool answers as an error result: the order does not exist, or cannot be refunded."""


class OrderBook:
    """The demo's orders, per process: lookups read it, refunds change it. Methods return JSON text."""

    def __init__(self) -> None:
        self._orders = {o["order_id"]: copy.deepcopy(o) for o in ORDERS}

    def _get(self, order_id: int) -> dict[str, Any]:
        order = self._orders.get(order_id)
        if order is None:
            known = ", ".join(str(i) for i in sorted(self._orders))
            raise OrderError(f"no order {order_id} (known orders: {known})")
        return order

    def lookup_order(self, order_id: int) -> str:
        return _dump(self._get(order_id))

    def list_orders(self, customer: str | None = None, status: str | None = None) -> str:
        if status is not None and status not in STATUSES:
            raise OrderError(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
        found = [
            {k: o[k] for k in ("order_id", "customer", "status", "placed", "total")}
            for o in self._orders.values()
            if (customer is None or o["customer"] == customer.strip().lower())
            and (status is None or o["status"] == status)
        ]
        return _dump({"count": len(found), "orders": found})

    def refund_order(self, order_id: int, reason: str) -> str:
        order = self._get(order_id)
        if not reason.strip():
            raise OrderError("a refund needs a reason")
        if order["status"] not in REFUNDABLE:
            raise OrderError(f"order {order_id} is {order['status']}: only shipped or delivered orders can be refunded")
        order["status"] = "refunded"
        order["refund"] = {"refund_id": f"R-{order_id}-1", "reason": reason.strip(), "amount": order["total"]}
        return _dump({"order_id": order_id, "status": "refunded", **order["refund"]})


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


_ORDER_ID_HELP = "The order number, e.g. 1042 (orders are numbered 1040 to 1046)."


# (no `from __future__ import annotations` here: the SDK reads the tools' annotations at registration)


def build_server(book: OrderBook | None = None, *, latency_ms: int = 0) -> Any:
    """The MCP server (an `mcp.server.mcpserver.MCPServer`) over `book`. Imports the SDK's server side."""
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    orders = book or OrderBook()
    delay = max(0, latency_ms) / 1000

    # log_level WARNING: the SDK logs every request at INFO; a demo server's stderr should carry only problems
    server = MCPServer(
        "workbench-demo-orders",
        instructions="An order desk: look orders up, list them, refund shipped or delivered ones.",
        log_level="WARNING",
    )

    async def _run(method: Any, *args: Any) -> str:
        if delay:
            await anyio.sleep(delay)
        try:
            result: str = method(*args)
        except OrderError as exc:
            raise ToolError(str(exc)) from None
        return result

    async def lookup_order(
        order_id: Annotated[int, Field(description=_ORDER_ID_HELP, examples=[1042], ge=1)],
    ) -> str:
        """Look up one order by its number: customer, status (placed, shipped, delivered, refunded, cancelled),
        the items with their prices, the total, and any refund already made."""
        return await _run(orders.lookup_order, order_id)

    async def list_orders(
        customer: Annotated[
            str | None,
            Field(description="Only this customer's orders (their e-mail address).", examples=["ada@example.com"]),
        ] = None,
        status: Annotated[
            str | None,
            Field(description=f"Only orders in this status: one of {', '.join(STATUSES)}.", examples=["delivered"]),
        ] = None,
    ) -> str:
        """List orders (number, customer, status, date, total), optionally only one customer's or one status's.
        With no arguments, lists every order."""
        return await _run(orders.list_orders, customer, status)

    async def refund_order(
        order_id: Annotated[int, Field(description=_ORDER_ID_HELP, examples=[1042], ge=1)],
        reason: Annotated[
            str,
            Field(description="Why the customer wants the refund, in a few words.", examples=["arrived damaged"]),
        ],
    ) -> str:
        """Refund a shipped or delivered order in full. Changes the order (its status becomes refunded), so it
        should be approved first. Fails for an order that is placed, cancelled or already refunded."""
        return await _run(orders.refund_order, order_id, reason)

    for fn in (lookup_order, list_orders, refund_order):
        server.add_tool(fn, description=" ".join((fn.__doc__ or "").split()), structured_output=False)
    return server


def serve(*, http_port: int | None = None, host: str = "127.0.0.1", latency_ms: int = 0) -> None:
    """Run the demo server until its client goes away (stdio) or it is interrupted (HTTP). Blocks."""
    server = build_server(latency_ms=latency_ms)
    if http_port is None:
        # stdout is the protocol channel; anything said to a person goes to stderr (the client's log)
        print(f"workbench demo-mcp: {len(ORDERS)} orders, serving over stdio", file=sys.stderr, flush=True)
        server.run("stdio")
    else:
        print(
            f"workbench demo-mcp: {len(ORDERS)} orders, serving on http://{host}:{http_port}/mcp",
            file=sys.stderr,
            flush=True,
        )
        server.run("streamable-http", host=host, port=http_port)
