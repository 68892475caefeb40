"""A scriptable loopback HTTP server for provider tests: it answers with the exact bytes a test gives and
records what the adapter sent. Used for wire quirks the simulator does not produce on purpose."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/event-stream"})
    delay_s: float = 0.0  # pause before each chunk
    abort: bool = False  # cut the TCP connection after the chunks instead of ending the response


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Canned:
    """Replies are served in order; the last one repeats."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply()]
        self.requests: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def reply(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def sse(self, *frames: str | bytes, **kwargs: Any) -> None:
        """One 200 event-stream reply made of these raw frames (str is UTF-8 encoded as is)."""
        self.reply(Reply(chunks=[f.encode() if isinstance(f, str) else f for f in frames], **kwargs))

    def json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.reply(
            Reply(
                status=status,
                chunks=[json.dumps(obj).encode()],
                headers={"content-type": "application/json", **(headers or {})},
            )
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(
            Seen(request.path, {k.lower(): v for k, v in request.headers.items()}, json.loads(raw) if raw else {})
        )
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        await response.prepare(request)
        for chunk in reply.chunks:
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await response.write(chunk)
        if reply.abort and request.transport is not None:
            await asyncio.sleep(0.01)
            request.transport.abort()
            return response
        await response.write_eof()
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # our own socket: the port is known without private aiohttp attributes
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
