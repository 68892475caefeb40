"""`workbench serve`: the textual-serve page for the app, on loopback, guarded against other origins and hosts.

Real server subprocesses; raw websockets through aiohttp's client (the browser's view is in
test_serve_browser.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import httpx
import pytest
from serve_helpers import free_port, served

TOKEN = "k3Y-for_the.test~0123456789"


async def ws_status(url: str, *, origin: str | None, cookie: str | None = None) -> int:
    """The HTTP status a websocket handshake to `url` gets (101 when it opens)."""
    headers = {"Cookie": cookie} if cookie else {}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, origin=origin, headers=headers, timeout=aiohttp.ClientWSTimeout(10)):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def test_serve_answers_on_loopback_and_says_the_url(tmp_path: Path) -> None:
    with served(tmp_path) as server:
        page = httpx.get(f"{server.url}/", timeout=10)
        assert page.status_code == 200
        assert "textual.js" in page.text and "workbench" in page.text
        # Another site cannot frame the app to trick the user into typing into it.
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # The page's websocket is the address the browser used (its Origin is then that address).
        assert f'data-session-websocket-url="ws://127.0.0.1:{server.port}/ws"' in page.text
    assert f"http://127.0.0.1:{server.port}" in server.output


def test_serve_refuses_a_missing_profile() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "serve", "--profile", "/nonexistent/p.yaml", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0 and "no such profile file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "myhost.example"])
def test_a_non_loopback_host_without_a_token_is_refused(host: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "serve", "--host", host, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "WORKBENCH_SERVE_TOKEN"},
    )
    assert done.returncode == 2, done.stderr
    assert f"--host {host}: not a loopback address, and no --token" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_short_token_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "serve", "--token", "hunter2", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "--token: use at least 16 characters" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "null", None])
async def test_a_websocket_from_another_origin_is_refused(tmp_path: Path, origin: str | None) -> None:
    with served(tmp_path) as server:
        ws = f"ws://127.0.0.1:{server.port}/ws"
        assert await ws_status(ws, origin=origin) == 403
        # The page's own origin opens it (the app starts behind it).
        assert await ws_status(ws, origin=server.url) == 101


def test_a_name_that_rebinds_to_loopback_is_refused(tmp_path: Path) -> None:
    # DNS rebinding: evil.example resolves to 127.0.0.1, so its pages are same-origin with themselves.
    with served(tmp_path) as server:
        page = httpx.get(f"{server.url}/", headers={"Host": f"evil.example:{server.port}"}, timeout=10)
        assert page.status_code == 403
        assert httpx.get(f"http://localhost:{server.port}/", timeout=10).status_code == 200


async def test_with_a_token_every_request_needs_it(tmp_path: Path) -> None:
    # The token from the environment (it stays out of `ps`); --token works alike (the browser test uses it).
    with served(tmp_path, env={"WORKBENCH_SERVE_TOKEN": TOKEN}) as server:
        ws = f"ws://127.0.0.1:{server.port}/ws"
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/").status_code == 403
            assert client.get("/static/js/textual.js").status_code == 403
            assert client.get("/", params={"token": TOKEN[:-1] + "X"}).status_code == 403
            assert client.get("/", params={"token": TOKEN + "X"}).status_code == 403
            entry = client.get("/", params={"token": TOKEN, "fontsize": "18"})
            assert entry.status_code == 303 and entry.headers["location"] == "/?fontsize=18"  # the token leaves the URL
            set_cookie = entry.headers["set-cookie"]
            assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
            cookie = f"workbench_token_{server.port}={TOKEN}"
            assert client.get("/", headers={"Cookie": cookie}).status_code == 200
            assert client.get("/static/js/textual.js", headers={"Cookie": cookie}).status_code == 200
            assert client.get("/", headers={"Cookie": f"workbench_token_{server.port}=nope"}).status_code == 403
        assert await ws_status(ws, origin=server.url) == 403  # no token
        assert await ws_status(ws, origin="http://evil.example", cookie=cookie) == 403  # token, foreign page
        assert await ws_status(ws, origin=server.url, cookie=cookie) == 101
    # The token is printed once, in the address to open; the access log shows paths without queries.
    assert server.output.count(TOKEN) == 1
    assert f"http://127.0.0.1:{server.port}/?token={TOKEN}" in server.output


def test_a_port_in_use_is_a_message_not_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "workbench", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
