"""`workbench serve` answers on loopback with the textual-serve page for the app."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_loopback_and_says_the_url() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        page = None
        while time.monotonic() < deadline:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert page is not None and page.status_code == 200
        assert "textual.js" in page.text and "workbench" in page.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}" in err


def test_serve_refuses_a_missing_profile() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "serve", "--profile", "/nonexistent/p.yaml", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0 and "no such profile file" in done.stderr and "Traceback" not in done.stderr
