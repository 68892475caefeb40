"""A raw-socket HTTP/1.1 server for transport tests: each connection acts out a named script, byte for byte, so a
fault (reset, short body, silence, garbage) happens exactly where a test puts it. It counts the connections it
accepted and the ones the client closed, and records each request head."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

StreamReader = asyncio.StreamReader
StreamWriter = asyncio.StreamWriter
Script = Callable[["WireServer", StreamReader, StreamWriter], Awaitable[None]]

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


async def read_request(reader: StreamReader) -> bytes:
    """One request: the head (returned) and its Content-Length body (read and dropped)."""
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and int(value):
            await reader.readexactly(int(value))
    return head


def reset(writer: StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class WireServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.accepted = 0
        self.client_closed = 0  # connections on which the server read EOF from the client
        self.heads: list[bytes] = []
        self.closed_event = asyncio.Event()
        self.stopping = asyncio.Event()
        self._writers: set[StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def _handle(self, reader: StreamReader, writer: StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self.script(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def __aenter__(self) -> WireServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.stopping.set()  # scripts that hold a connection open end (no task is cancelled: asyncio would log it)
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Send nothing more until the server stops."""
        await self.stopping.wait()

    async def wait_for_eof(self, reader: StreamReader) -> None:
        """Serve nothing more; count the client's close when it comes."""
        if await reader.read(1) == b"":
            self.client_closed += 1
            self.closed_event.set()
