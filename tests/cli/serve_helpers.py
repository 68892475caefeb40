"""Start `workbench serve` as a real subprocess on a free loopback port and stop it again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DEMO = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    port: int
    proc: subprocess.Popen[str]
    output: str = field(default="")  # stdout + stderr, filled in when the server has stopped

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def served(tmp: Path, *args: str, env: dict[str, str] | None = None, profile: Path = DEMO) -> Iterator[Served]:
    """`workbench serve --profile PROFILE ARGS` until the block ends (its database: tmp/wb.db); answers before
    the block starts."""
    port = free_port()
    environ = dict(os.environ, XDG_CONFIG_HOME=str(tmp / "config"), WORKBENCH_DB=str(tmp / "wb.db"), **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "serve", "--profile", str(profile), "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environ,
    )
    server = Served(port, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{server.url}/static/css/xterm.css", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"workbench serve did not start: {proc.communicate()[0]}") from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            server.output = proc.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            server.output = proc.communicate()[0]
