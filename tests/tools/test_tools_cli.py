"""`workbench tools list` and `workbench demo-mcp` as a user runs them: real processes, real MCP servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from mcp_helpers import CONNECT_TIMEOUT, ROOT, demo_over_http


def workbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=CONNECT_TIMEOUT + 60,
        env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="160"),
    )


def test_tools_list_json_gives_every_tool_with_its_schema() -> None:
    done = workbench("tools", "list", "--mcp", "demo", "--connect-timeout", str(CONNECT_TIMEOUT), "--json")
    assert done.returncode == 0, done.stderr
    tools = json.loads(done.stdout)
    assert [t["name"] for t in tools] == ["lookup_order", "list_orders", "refund_order"]
    assert {t["server"] for t in tools} == {"demo"}
    refund = tools[2]
    assert set(refund) == {"name", "description", "parameters", "server"}
    assert refund["parameters"]["properties"]["reason"]["examples"] == ["arrived damaged"]
    assert sorted(refund["parameters"]["required"]) == ["order_id", "reason"]
    assert done.stderr == ""  # the server's stderr line went to its log, not here


def test_tools_list_table_over_streamable_http(tmp_path: Path) -> None:
    with demo_over_http(tmp_path) as url:
        done = workbench("tools", "list", "--mcp-url", f"desk={url}")
    assert done.returncode == 0, done.stderr
    assert "MCP server desk: 3 tools" in done.stdout
    for expected in ("lookup_order", "list_orders", "refund_order", "order_id: integer", "e.g. 1042"):
        assert expected in done.stdout


def test_a_server_that_cannot_start_exits_2_naming_the_command() -> None:
    missing = workbench("tools", "list", "--mcp", "ghost=no-such-mcp-server --root docs")
    assert missing.returncode == 2
    assert "no-such-mcp-server --root docs" in missing.stderr and "Traceback" not in missing.stderr
    quits = workbench("tools", "list", "--mcp", f"quits={sys.executable} -c pass")
    assert quits.returncode == 2 and "Traceback" not in quits.stderr
    assert f"{sys.executable} -c pass" in quits.stderr and "before the MCP handshake" in quits.stderr


def test_bad_options_exit_2_with_one_message() -> None:
    for args, expected in (
        (("--mcp", "no-equals-sign"), "expected NAME=COMMAND"),
        (("--mcp-url", "x=ftp://host/mcp"), "must start with http"),
        ((), "name at least one MCP server"),
        (("--mcp", "demo", "--mcp", "demo"), "given twice"),
    ):
        done = workbench("tools", "list", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert expected in done.stderr and "Traceback" not in done.stderr


def test_demo_mcp_on_a_port_in_use_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = workbench("demo-mcp", "--http", str(port))
    assert done.returncode == 2
    assert f"127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
