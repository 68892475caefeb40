"""Helpers for the MCP tests: server specs for the test servers, a demo server over streamable HTTP, pid checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.tools.servers import pid_alive
from workbench.tools.specs import ServerSpec

ROOT = Path(__file__).resolve().parents[2]
TEST_SERVER = Path(__file__).resolve().parent / "mcp_test_server.py"
#: a loaded 2-core machine: importing the SDK's server side alone can take seconds
CONNECT_TIMEOUT = 90.0


def server_spec(name: str = "t", *flags: str) -> ServerSpec:
    return ServerSpec(name, command=(sys.executable, str(TEST_SERVER), *flags), env={"PYTHONPATH": str(ROOT)})


def wait_gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def demo_over_http(tmp_path: Path, *args: str) -> Iterator[str]:
    """`workbench demo-mcp --http PORT` as a subprocess; yields its endpoint URL once it accepts connections."""
    port = free_port()
    log = open(tmp_path / "demo-http.log", "w")  # noqa: SIM115
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "demo-mcp", "--http", str(port), *args],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            assert proc.poll() is None, (tmp_path / "demo-http.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "demo-mcp --http did not listen"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
