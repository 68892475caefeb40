"""HTTP-level pathologies from a raw TCP server, through the whole engine, for every transport the engine can use.

The canned and simulator servers are well-behaved HTTP servers (aiohttp) that misbehave in the LLM protocol. This
server writes bytes by hand, so it can also break HTTP itself: no status line, a body shorter than its
Content-Length, a bad chunk size, a close-delimited body, trailers, an interim 100, a gzip body that is not gzip,
headers that never end. Each case runs one request on an ordinary `openai`-kind provider pointed at it, with a
healthy simulated backup behind it, and asserts what the engine made of it: the attempt's status, error class,
message, whether it was billed, and that the run still ended well. The expected outcomes are written from HTTP
semantics (RFC 9112), not read off the code; every transport must give the same ones
(`WORKBENCH_TRANSPORT`, when more than one transport exists).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from workbench.engine import Engine
from workbench.profiles.load import loads_profile

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]  # True keeps the connection open


def sse(*texts: str) -> bytes:
    frames = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "raw-1",
            "choices": [{"index": 0, "delta": {"content": t}}],
        }
        for t in texts
    ]
    frames.append(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "raw-1",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": len(texts), "total_tokens": 11 + len(texts)},
        }
    )
    return b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames) + b"data: [DONE]\n\n"


ANSWER = ("Hello", " from", " raw")
BODY = sse(*ANSWER)


def chunked(*parts: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n" + trailer + b"\r\n"


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


class RawServer:
    """asyncio TCP server: reads each request (headers + Content-Length body), then runs the current script."""

    def __init__(self) -> None:
        self.script: Script = ok_chunked
        self.open_connections = 0
        self.connections = 0
        self.requests = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def all_closed(self) -> None:
        for _ in range(200):
            if self.open_connections == 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{self.open_connections} connection(s) still open 2 s after the engine closed")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                await reader.readexactly(int(match.group(1)) if match else 0)
                self.requests += 1
                keep = await self.script(reader, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.open_connections -= 1
            writer.close()


async def until_client_closes(r: asyncio.StreamReader) -> None:
    """A hung server: says nothing more, and only notices the client when it hangs up."""
    await asyncio.wait_for(r.read(), 30)


async def ok_chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    w.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY[:50], BODY[50:]))  # a chunk boundary mid-event
    return True


async def ok_chunked_with_trailers(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    parts = [p + b"\n\n" for p in BODY.split(b"\n\n") if p]  # one SSE event per chunk
    w.write(HEAD + b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n")
    w.write(chunked(*parts, trailer=b"X-Checksum: abc123\r\n"))
    return True


async def ok_close_delimited(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    w.write(HEAD + b"Connection: close\r\n\r\n" + BODY)  # no length, no chunking: the body ends at the close
    return False


async def ok_no_reason_phrase(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    w.write(b"HTTP/1.1 200\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
    return True


async def ok_after_interim_100(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    w.write(HEAD + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
    return True


async def ok_gzip(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    body = gzip.compress(BODY)
    w.write(HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return True


async def close_without_answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    return False


async def garbage_status_line(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    w.write(b"SPAM SPAM SPAM\r\n\r\n")
    return False


async def short_content_length(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    partial = BODY[: BODY.index(b"data: [DONE]") - 40]
    w.write(HEAD + b"Content-Length: %d\r\n\r\n" % len(BODY) + partial)
    return False


async def bad_chunk_size(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    first = BODY[: BODY.index(b"\n\n") + 2]
    w.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(first), first) + b"zz\r\n")
    return False


async def hang_after_headers(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    w.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    await w.drain()
    await until_client_closes(r)
    return False


async def hang_before_headers(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    await until_client_closes(r)
    return False


async def headers_never_end(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    w.write(HEAD + b"X-Filler: " + b"a" * 200_000 + b"\r\n")  # far past any client's header limit
    await w.drain()
    await until_client_closes(r)
    return False


async def not_really_gzip(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    w.write(HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
    return True


@dataclass
class Case:
    script: Script
    status: str  # the raw attempt's status
    error_class: str | None = None
    message: str | None = None  # a phrase the attempt's error must contain
    billed: bool = True  # the request reached the server, so its estimate is charged


CASES: dict[str, Case] = {
    "chunked": Case(ok_chunked, "ok"),
    "chunked with trailers": Case(ok_chunked_with_trailers, "ok"),
    "close-delimited body": Case(ok_close_delimited, "ok"),
    "status line without reason phrase": Case(ok_no_reason_phrase, "ok"),
    "interim 100 before the answer": Case(ok_after_interim_100, "ok"),
    "gzip body": Case(ok_gzip, "ok"),
    "closed without an answer": Case(close_without_answer, "error", "connection", "connection failed"),
    "garbage status line": Case(garbage_status_line, "error", "connection", "connection failed"),
    "body shorter than its Content-Length": Case(short_content_length, "error", "connection", "mid-response"),
    # headers and the bad chunk come in one packet: httpcore reports it mid-body, aiohttp while reading the head
    "bad chunk size": Case(bad_chunk_size, "error", "connection", "chunk"),
    "gzip header on a plain body": Case(not_really_gzip, "error", "malformed", "could not be decoded"),
    "hang after the headers": Case(hang_after_headers, "timeout", "timeout"),
    "hang before the headers": Case(hang_before_headers, "timeout", "timeout"),
    "headers that never end": Case(headers_never_end, "error", "connection", "connection failed"),
}

TIMEOUTS = {"first_token": 0.6, "idle": 0.6, "total": 5}


def profile(port: int) -> str:
    return f"""
name: raw-http
providers:
  raw: {{kind: openai, base_url: "http://127.0.0.1:{port}/v1", timeouts: {json.dumps(TIMEOUTS)}}}
  sim: {{kind: sim}}
models:
  rawm: {{provider: raw, model: raw-1, tokenizer: o200k_base, prices: [{{input: 1, output: 2}}]}}
  backup: {{provider: sim, model: sim-backup, prices: [{{input: 1, output: 2}}], sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 5}}}}
routes:
  main: {{retry: {{max_attempts: 1}}, steps: [{{name: answer, targets: [rawm, backup]}}]}}
"""


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WORKBENCH_TRANSPORT", request.param)
    return str(request.param)


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer()
    await server.start()
    yield server
    await server.close()


def attempts(events: list[Any]) -> list[Any]:
    return [e for e in events if e.type == "hop_finished" and e.kind == "attempt"]


@pytest.mark.parametrize("name", list(CASES))
async def test_pathology(name: str, transport: str, raw: RawServer) -> None:
    case = CASES[name]
    raw.script = case.script
    async with Engine(loads_profile(profile(raw.port))) as engine:
        events = [e async for e in engine.run("hello there", route="main")]
    first = attempts(events)[0]
    assert first.name == "rawm"
    assert (first.status, first.error_class) == (case.status, case.error_class), (first.status, first.error)
    final = events[-1]
    assert final.type == "run_finished" and final.status == "ok"
    if case.status == "ok":
        assert final.output == "".join(ANSWER) and len(attempts(events)) == 1
        assert (first.input_tokens, first.output_tokens) == (11, len(ANSWER))  # the reported usage, exact
    else:
        assert attempts(events)[1].name == "backup" and attempts(events)[1].status == "ok"
        assert "Hello from raw" not in final.output  # nothing of a broken answer leaks into the result
        if case.message:
            assert case.message in (first.error or ""), first.error
        # the message is the transport's words, not its internals: no status it would answer as a server, no URL
        assert not re.search(r"\b\d{3}, message=|url=|\n", first.error or ""), first.error
        assert (first.cost_usd > 0) == case.billed
    if case.status == "timeout":
        budget_ms = TIMEOUTS["first_token"] * 1000
        assert budget_ms - 50 <= first.latency_ms <= budget_ms + 400, first.latency_ms
    await raw.all_closed()  # the engine closed or returned every connection when it shut down


async def test_refused_connection_is_not_billed(transport: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connecting is refused
        async with Engine(loads_profile(profile(port))) as engine:
            events = [e async for e in engine.run("hello there", route="main")]
    first = attempts(events)[0]
    assert (first.status, first.error_class) == ("error", "connection")
    assert "could not connect" in (first.error or "") and first.cost_usd == 0
    assert events[-1].status == "ok"


async def test_keep_alive_reuses_one_connection_for_sequential_runs(transport: str, raw: RawServer) -> None:
    raw.script = ok_chunked_with_trailers
    async with Engine(loads_profile(profile(raw.port))) as engine:
        for _ in range(5):
            events = [e async for e in engine.run("hello there", route="main")]
            assert events[-1].output == "".join(ANSWER)
    assert (raw.requests, raw.connections) == (5, 1)


async def test_a_close_delimited_answer_does_not_poison_the_pool(transport: str, raw: RawServer) -> None:
    raw.script = ok_close_delimited  # every answer closes its connection: the next run must open a fresh one
    async with Engine(loads_profile(profile(raw.port))) as engine:
        for _ in range(3):
            events = [e async for e in engine.run("hello there", route="main")]
            assert events[-1].output == "".join(ANSWER) and len(attempts(events)) == 1
    assert (raw.requests, raw.connections) == (3, 3)
