"""No MCP server process outlives the process that started it, however that process ends.

A real host process opens a ToolServers registry on a *stubborn* stdio server (after its stdin closes it ignores
SIGTERM and sleeps on: only SIGKILL ends it), prints the server's pid, and waits. The test then kills the host with
`os.kill` and checks, by pid, that the server is gone too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mcp_helpers import CONNECT_TIMEOUT, ROOT, TEST_SERVER, wait_gone

from workbench.tools.servers import pid_alive

HOST = """
import asyncio, sys
from pathlib import Path
from workbench.tools.servers import ToolServers
from workbench.tools.specs import ServerSpec

async def main():
    spec = ServerSpec("t", command=(sys.executable, sys.argv[1], "--stubborn"), env={"PYTHONPATH": sys.argv[2]})
    async with ToolServers([spec], connect_timeout=float(sys.argv[3]), log_dir=Path(sys.argv[4])) as servers:
        result = await servers.call_tool("t", "lookup_order", {"order_id": 1042})
        print(servers.pid("t"), result.status, flush=True)
        await asyncio.sleep(120)

asyncio.run(main())
"""


def start_host(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, str(TEST_SERVER), str(ROOT), str(CONNECT_TIMEOUT), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert host.stdout is not None
    line = host.stdout.readline()
    assert line, host.stderr.read() if host.stderr else "the host printed nothing"
    pid_text, status = line.split()
    assert status == "ok"
    pid = int(pid_text)
    assert pid_alive(pid) and pid != host.pid
    return host, pid


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=["TERM", "HUP", "KILL"])
def test_killing_the_host_kills_its_mcp_server(tmp_path: Path, signum: int) -> None:
    host, server_pid = start_host(tmp_path)
    try:
        os.kill(host.pid, signum)
        assert host.wait(30) == -signum  # the host died of the signal, as it would have without a registry
        assert wait_gone(server_pid, within=10), f"MCP server {server_pid} outlived its host (signal {signum})"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        if pid_alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)
    assert host.stderr is not None
    assert "Traceback" not in host.stderr.read()


def test_a_host_that_ends_normally_leaves_no_server(tmp_path: Path) -> None:
    host, server_pid = start_host(tmp_path)
    try:
        os.kill(host.pid, signal.SIGINT)  # KeyboardInterrupt: the registry closes on the way out
        host.wait(30)
        assert wait_gone(server_pid, within=10)
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        if pid_alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)
