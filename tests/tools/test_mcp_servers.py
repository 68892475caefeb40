"""ToolServers against real MCP servers: the demo order desk over stdio and over streamable HTTP, started here.

No mocks: every server is a real subprocess speaking the MCP SDK's protocol; processes are checked by pid.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from decimal import Decimal
from pathlib import Path

import pytest
from mcp_helpers import CONNECT_TIMEOUT, demo_over_http, server_spec, wait_gone

from workbench.tools import demo_server_spec
from workbench.tools.servers import ToolServerError, ToolServers, pid_alive


def registry(tmp_path: Path, *specs, **kw) -> ToolServers:  # type: ignore[no-untyped-def]
    kw.setdefault("connect_timeout", CONNECT_TIMEOUT)
    return ToolServers(specs, log_dir=tmp_path / "logs", **kw)


async def test_stdio_lists_and_calls_every_tool_then_close_ends_the_process(tmp_path: Path) -> None:
    async with registry(tmp_path, demo_server_spec("orders")) as servers:
        tools = await servers.list_tools("orders")
        pid = servers.pid("orders")
        assert pid is not None and pid_alive(pid)
        by_name = {t.name: t for t in tools}
        assert sorted(by_name) == ["list_orders", "lookup_order", "refund_order"]
        lookup = by_name["lookup_order"]
        assert lookup.server == "orders" and "order" in lookup.description
        # what a ChatRequest's tool definition carries: name, description, a JSON Schema object
        assert set(lookup.as_dict()) == {"name", "description", "parameters"}
        params = lookup.as_dict()["parameters"]
        assert params["type"] == "object" and params["required"] == ["order_id"]
        assert params["properties"]["order_id"]["type"] == "integer"
        assert params["properties"]["order_id"]["examples"] == [1042]
        refund = by_name["refund_order"].as_dict()["parameters"]
        assert sorted(refund["required"]) == ["order_id", "reason"]
        listing = by_name["list_orders"].as_dict()["parameters"]
        assert listing.get("required", []) == []  # both filters are optional
        assert listing["properties"]["status"]["default"] is None

        one = await servers.call_tool("orders", "lookup_order", {"order_id": 1042})
        assert one.status == "ok" and not one.is_error
        order = json.loads(one.text)
        assert order["customer"] == "ada@example.com" and order["status"] == "delivered"
        assert Decimal(order["total"]) == Decimal("129.90") + 2 * Decimal("9.95")
        assert one.size == len(one.text.encode()) and one.latency_s > 0

        ada = json.loads((await servers.call_tool("orders", "list_orders", {"customer": "ada@example.com"})).text)
        assert [o["order_id"] for o in ada["orders"]] == [1040, 1042] and ada["count"] == 2
        every = json.loads((await servers.call_tool("orders", "list_orders", {})).text)
        assert [o["order_id"] for o in every["orders"]] == list(range(1040, 1047))

        done = await servers.call_tool("orders", "refund_order", {"order_id": 1042, "reason": "arrived damaged"})
        assert done.status == "ok"
        assert json.loads(done.text) == {
            "order_id": 1042,
            "status": "refunded",
            "refund_id": "R-1042-1",
            "reason": "arrived damaged",
            "amount": "149.80",
        }
        # the refund is kept by the server process: the order now reads refunded, and a second refund fails
        assert json.loads((await servers.call_tool("orders", "lookup_order", {"order_id": 1042})).text)["status"] == (
            "refunded"
        )
        again = await servers.call_tool("orders", "refund_order", {"order_id": 1042, "reason": "twice"})
        assert again.status == "error" and again.is_error and "only shipped or delivered" in again.text

        missing = await servers.call_tool("orders", "lookup_order", {"order_id": 9999})
        assert missing.is_error and "no order 9999" in missing.text
        bad_args = await servers.call_tool("orders", "lookup_order", {"order_id": "not a number"})
        assert bad_args.is_error and "order_id" in bad_args.text
        unknown = await servers.call_tool("orders", "no_such_tool", {})
        assert unknown.is_error
        assert servers.restarts("orders") == 0 and servers.pid("orders") == pid
    assert wait_gone(pid, within=10), "the stdio server outlived the registry"


async def test_tools_list_is_read_once_and_cached(tmp_path: Path) -> None:
    async with registry(tmp_path, demo_server_spec("orders")) as servers:
        first = await servers.list_tools("orders")
        pid = servers.pid("orders")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        # a second listing asks nothing of the (dead) server: no restart happened to answer it
        assert await servers.list_tools("orders") is first
        assert servers.restarts("orders") == 0


async def test_streamable_http_server_started_by_the_test(tmp_path: Path) -> None:
    from workbench.tools.specs import ServerSpec

    with demo_over_http(tmp_path) as url:
        async with registry(tmp_path, ServerSpec("desk", url=url)) as servers:
            tools = await servers.list_tools("desk")
            assert sorted(t.name for t in tools) == ["list_orders", "lookup_order", "refund_order"]
            assert servers.pid("desk") is None  # not our process
            one = await servers.call_tool("desk", "lookup_order", {"order_id": 1046}, timeout=30)
            assert one.status == "ok" and json.loads(one.text)["customer"] == "margaret@example.com"
            placed = await servers.call_tool("desk", "refund_order", {"order_id": 1043, "reason": "changed my mind"})
            assert placed.is_error and "1043 is placed" in placed.text
            shipped = await servers.call_tool("desk", "list_orders", {"status": "shipped"})
            assert [o["order_id"] for o in json.loads(shipped.text)["orders"]] == [1041, 1046]


async def test_http_connect_timeout_names_the_url(tmp_path: Path) -> None:
    from workbench.tools.specs import ServerSpec

    # a listener that accepts connections (the kernel's backlog) and never answers a byte
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        async with ToolServers([ServerSpec("mute", url=url)], log_dir=tmp_path, connect_timeout=1.0) as servers:
            started = time.monotonic()
            with pytest.raises(ToolServerError) as caught:
                await servers.list_tools("mute")
            assert time.monotonic() - started < 15
            assert url in caught.value.message and "1 s" in caught.value.message
            result = await servers.call_tool("mute", "lookup_order", {"order_id": 1042})
            assert result.status == "unavailable" and url in result.text


async def test_a_call_past_its_timeout_is_an_error_result_and_the_server_stays(tmp_path: Path) -> None:
    async with registry(tmp_path, demo_server_spec("slow", latency_ms=3000)) as servers:
        await servers.start("slow")
        pid = servers.pid("slow")
        started = time.monotonic()
        late = await servers.call_tool("slow", "lookup_order", {"order_id": 1042}, timeout=0.3)
        assert late.status == "timeout" and late.is_error and "0.3 s" in late.text
        assert time.monotonic() - started < 2.5  # it did not wait for the 3 s answer
        ok = await servers.call_tool("slow", "lookup_order", {"order_id": 1042}, timeout=60)
        assert ok.status == "ok" and servers.pid("slow") == pid and servers.restarts("slow") == 0


async def test_a_cancelled_call_cancels_cleanly_and_the_connection_is_reused(tmp_path: Path) -> None:
    async with registry(tmp_path, demo_server_spec("slow", latency_ms=1500)) as servers:
        await servers.start("slow")
        pid = servers.pid("slow")
        call = asyncio.create_task(servers.call_tool("slow", "list_orders", {}))
        await asyncio.sleep(0.3)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        ok = await servers.call_tool("slow", "lookup_order", {"order_id": 1040}, timeout=60)
        assert ok.status == "ok" and servers.pid("slow") == pid


async def test_cancelling_the_owner_mid_call_leaves_no_server_process(tmp_path: Path) -> None:
    pids: list[int] = []
    calling = asyncio.Event()

    async def run() -> None:
        async with registry(tmp_path, server_spec("t", "--stubborn", "--slow")) as servers:
            await servers.start("t")
            pid = servers.pid("t")
            assert pid is not None
            pids.append(pid)
            calling.set()
            await servers.call_tool("t", "lookup_order", {"order_id": 1042})  # 5 s: cancelled before it answers

    task = asyncio.create_task(run())
    await asyncio.wait_for(calling.wait(), CONNECT_TIMEOUT)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the stubborn server ignores its closed stdin and SIGTERM: only the SDK's SIGKILL escalation ends it
    assert wait_gone(pids[0], within=10)


async def test_a_crashed_server_is_restarted_on_the_next_call_a_bounded_number_of_times(tmp_path: Path) -> None:
    async with registry(tmp_path, demo_server_spec("orders", latency_ms=0), max_restarts=1) as servers:
        first = await servers.call_tool("orders", "lookup_order", {"order_id": 1041})
        assert first.status == "ok"
        pid = servers.pid("orders")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        again = await servers.call_tool("orders", "lookup_order", {"order_id": 1041})
        assert again.status == "ok", again.text
        new_pid = servers.pid("orders")
        assert new_pid is not None and new_pid != pid and pid_alive(new_pid)
        assert servers.restarts("orders") == 1
        os.kill(new_pid, signal.SIGKILL)
        assert wait_gone(new_pid)
        given_up = await servers.call_tool("orders", "lookup_order", {"order_id": 1041})
        assert given_up.status == "unavailable" and "not restarted again" in given_up.text


async def test_a_server_dying_mid_call_answers_unavailable(tmp_path: Path) -> None:
    async with registry(tmp_path, demo_server_spec("slow", latency_ms=3000)) as servers:
        await servers.start("slow")
        pid = servers.pid("slow")
        assert pid is not None
        call = asyncio.create_task(servers.call_tool("slow", "lookup_order", {"order_id": 1042}, timeout=60))
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        result = await call
        assert result.status == "unavailable" and "exited during the call" in result.text


NOISY_HOST = """
import asyncio, sys
from pathlib import Path
from workbench.tools.servers import ToolServers
from workbench.tools.specs import ServerSpec

async def main():
    spec = ServerSpec("noisy", command=(sys.executable, sys.argv[1], "--noisy"), env={"PYTHONPATH": sys.argv[2]})
    async with ToolServers([spec], connect_timeout=float(sys.argv[3]), log_dir=Path(sys.argv[4])) as servers:
        result = await servers.call_tool("noisy", "lookup_order", {"order_id": 1042})
        print(result.status, flush=True)

asyncio.run(main())
"""


def test_server_stderr_and_sdk_complaints_never_reach_the_terminal(tmp_path: Path) -> None:
    import subprocess
    import sys

    from mcp_helpers import ROOT, TEST_SERVER

    # a real host process, whose stderr is the terminal here: nothing the server or the SDK says may reach it
    host = subprocess.run(
        [sys.executable, "-c", NOISY_HOST, str(TEST_SERVER), str(ROOT), str(CONNECT_TIMEOUT), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=CONNECT_TIMEOUT + 30,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert host.returncode == 0 and host.stdout == "ok\n", host.stderr
    assert host.stderr == ""
    assert "noisy server: a line on stderr" in (tmp_path / "noisy.stderr.log").read_text()
    # the line on stdout that was not JSON-RPC: the SDK logged it into the registry's log
    assert "not json-rpc" in (tmp_path / "mcp-client.log").read_text()


async def test_a_server_that_cannot_start_names_its_command(tmp_path: Path) -> None:
    from workbench.tools.specs import ServerSpec

    spec = ServerSpec("broken", command=("python3", "-c", "import sys; sys.stderr.write('boom: no config\\n')"))
    async with registry(tmp_path, spec, ServerSpec("ghost", command=("no-such-mcp-server", "--x"))) as servers:
        with pytest.raises(ToolServerError) as caught:
            await servers.list_tools("broken")
        assert "python3 -c" in caught.value.message and "boom: no config" in caught.value.message
        with pytest.raises(ToolServerError) as caught:
            await servers.list_tools("ghost")
        assert "command not found: 'no-such-mcp-server'" in caught.value.message
        missing = await servers.call_tool("ghost", "anything", {})
        assert missing.status == "unavailable"


async def test_a_start_outlasting_the_first_calls_timeout_is_kept_for_the_next_call(tmp_path: Path) -> None:
    async with registry(tmp_path, demo_server_spec("orders")) as servers:
        # starting the server (a Python interpreter importing the SDK) takes far longer than 10 ms
        early = await servers.call_tool("orders", "lookup_order", {"order_id": 1042}, timeout=0.01)
        assert early.status == "timeout"
        later = await servers.call_tool("orders", "lookup_order", {"order_id": 1042}, timeout=CONNECT_TIMEOUT)
        assert later.status == "ok"
        log = servers.log_path("orders").read_text()
        # one process, started once: the second call took over the start the first one gave up waiting for
        assert log.count("--- ") == 1 and log.count("[workbench] mcp server pid") == 1, log
        assert servers.restarts("orders") == 0


async def test_parallel_calls_share_one_connection_and_overlap(tmp_path: Path) -> None:
    async with registry(tmp_path, demo_server_spec("slow", latency_ms=2000)) as servers:
        await servers.start("slow")
        started = time.monotonic()
        results = await asyncio.gather(
            *(servers.call_tool("slow", "lookup_order", {"order_id": i}, timeout=60) for i in (1040, 1041, 1042))
        )
        elapsed = time.monotonic() - started
        assert [json.loads(r.text)["order_id"] for r in results] == [1040, 1041, 1042]
        assert elapsed < 5.0  # three 2 s calls in parallel, not 6 s one after another
        assert servers.restarts("slow") == 0
        with pytest.raises(ToolServerError, match="no MCP server named 'nope'"):
            await servers.call_tool("nope", "x", {})
