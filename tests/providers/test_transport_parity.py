"""The aiohttp transport fails the way httpx over httpcore fails: each fault, acted out byte for byte by a raw
loopback server, raises the same httpx exception class through both transports, so the engine classifies (and
bills) it the same. Plus what a pool must do: reuse a connection whose body was read to its end, close one that
was abandoned or cancelled (the server sees the close), bound the wait for a free connection, send exactly the
headers httpx built, and leave Content-Encoding to httpx."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
from collections.abc import Callable

import httpx
import pytest
from wire_server import OK_HEAD, StreamReader, StreamWriter, WireServer, read_request, reset  # type: ignore[import-not-found]

from workbench.providers.aiohttp_transport import AiohttpTransport

TRANSPORTS: dict[str, Callable[[int], httpx.AsyncBaseTransport]] = {
    "httpcore": lambda n: httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=n)),
    "aiohttp": lambda n: AiohttpTransport(max_connections=n),
}
READ_TIMEOUT = 0.3


def client(transport: str, max_connections: int = 10) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=TRANSPORTS[transport](max_connections), timeout=httpx.Timeout(5.0, read=READ_TIMEOUT)
    )


# -- the scripts: what the server does after reading the request ----------------------------------------------


async def close_before_response(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    await read_request(r)
    w.close()


async def reset_before_response(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    await read_request(r)
    reset(w)


async def reset_while_receiving_the_request(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    await r.readuntil(b"\r\n\r\n")  # the head only; the large body is still on its way
    reset(w)


async def silent_before_headers(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    await read_request(r)
    await s.idle()


async def garbage_status_line(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    await read_request(r)
    w.write(b"NOT HTTP AT ALL\r\n\r\n")
    await w.drain()
    w.close()


async def headers_cut(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    await read_request(r)
    w.write(b"HTTP/1.1 200 OK\r\nContent-Ty")
    await w.drain()
    w.close()


def body_then(
    head: bytes, body: bytes, end: str, then: bytes = b""
) -> Callable[[WireServer, StreamReader, StreamWriter], object]:
    """Headers and a first part of the body; a pause (so the client reads them on their own); `then`; the end."""

    async def script(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
        await read_request(r)
        w.write(OK_HEAD + head + b"\r\n" + body)
        await w.drain()
        await asyncio.sleep(0.05)
        if then:
            w.write(then)
            await w.drain()
            await asyncio.sleep(0.05)
        if end == "silence":
            await s.idle()
        else:
            reset(w) if end == "reset" else w.close()

    return script


CHUNKED = b"Transfer-Encoding: chunked\r\n"
RPE = httpx.RemoteProtocolError
SHORT = b"Content-Length: 100\r\n"

# (case, script, expected class, headers arrive first); the classes are httpcore's (checked by hand against
# httpx 0.28 / httpcore 1.0): a clean close before the whole message is RemoteProtocolError, a reset is ReadError
CASES = [
    ("close before the response", close_before_response, httpx.RemoteProtocolError, False),
    ("reset before the response", reset_before_response, httpx.ReadError, False),
    ("reset while the request is sent", reset_while_receiving_the_request, httpx.ReadError, False),
    ("silence before the headers", silent_before_headers, httpx.ReadTimeout, False),
    ("a status line that is not HTTP", garbage_status_line, httpx.RemoteProtocolError, False),
    ("close inside the headers", headers_cut, httpx.RemoteProtocolError, False),
    ("Content-Length shortfall, close", body_then(SHORT, b"abc", "close"), httpx.RemoteProtocolError, True),
    ("Content-Length shortfall, reset", body_then(SHORT, b"abc", "reset"), httpx.ReadError, True),
    ("chunked body cut, close", body_then(CHUNKED, b"3\r\nabc\r\n", "close"), httpx.RemoteProtocolError, True),
    ("chunked body cut, reset", body_then(CHUNKED, b"3\r\nabc\r\n", "reset"), httpx.ReadError, True),
    ("bad chunk size", body_then(CHUNKED, b"3\r\nabc\r\n", "close", b"zz\r\n"), httpx.RemoteProtocolError, True),
    # aiohttp 3.14 alone would leave these two waiting for good (see workbench/providers/_compat.py): the connection stays open
    ("bad chunk size, held open", body_then(CHUNKED, b"3\r\nabc\r\n", "silence", b"zz\r\n"), RPE, True),
    ("chunk longer than its size", body_then(CHUNKED, b"3\r\nabc\r\n", "silence", b"4\r\nHello\r\n"), RPE, True),
    ("silence mid-body", body_then(CHUNKED, b"3\r\nabc\r\n", "silence"), httpx.ReadTimeout, True),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("case", "script", "expected", "mid_body"), CASES, ids=[c[0] for c in CASES])
async def test_each_fault_raises_the_same_httpx_class_through_both_transports(
    transport: str, case: str, script: object, expected: type[Exception], mid_body: bool
) -> None:
    body = b"x" * 8_000_000 if "request is sent" in case else b'{"a": 1}'
    async with WireServer(script) as server, client(transport) as http:  # type: ignore[arg-type]
        got_headers = False
        t0 = time.monotonic()
        with pytest.raises(httpx.HTTPError) as info:
            async with asyncio.timeout(5):  # a transport that hangs fails here (TimeoutError) instead of hanging
                async with http.stream("POST", server.url + "/v1/chat", content=body) as response:
                    got_headers = True
                    assert response.status_code == 200
                    async for _ in response.aiter_raw():
                        pass
        elapsed = time.monotonic() - t0
    assert type(info.value) is expected, f"{transport}: {type(info.value).__name__}: {info.value}"
    assert got_headers is mid_body
    if expected is httpx.ReadTimeout:  # the idle budget, not the 30 s the server would wait
        assert READ_TIMEOUT - 0.01 <= elapsed <= READ_TIMEOUT + 0.5


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_connection_is_a_connect_error(transport: str) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with client(transport) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_connect_that_hangs_is_a_connect_timeout(transport: str) -> None:
    # A listener that never accepts, its backlog full: the kernel drops further SYNs, so connect() hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(f)
    try:
        async with client(transport) as http:
            t0 = time.monotonic()
            with pytest.raises(httpx.ConnectTimeout):
                await http.get(f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(5.0, connect=0.3))
            assert time.monotonic() - t0 <= 0.3 + 0.5
    finally:
        for f in fillers:
            f.close()
        listener.close()


async def hold_open(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    """Answer with headers and a first chunk, then hold the body open until the client closes."""
    await read_request(r)
    w.write(OK_HEAD + CHUNKED + b"\r\n3\r\nabc\r\n")
    await w.drain()
    await s.wait_for_eof(r)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_waiting_for_a_free_connection_is_bounded_by_the_pool_timeout(transport: str) -> None:
    async with WireServer(hold_open) as server, client(transport, max_connections=1) as http:
        async with http.stream("POST", server.url + "/", content=b"{}") as first:
            assert first.status_code == 200
            t0 = time.monotonic()
            with pytest.raises(httpx.PoolTimeout):
                await http.post(server.url + "/", content=b"{}", timeout=httpx.Timeout(5.0, pool=0.2))
            assert 0.19 <= time.monotonic() - t0 <= 0.2 + 0.5
        assert server.accepted == 1  # the second request never connected


async def complete_answers(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    """Answer every request on the connection with a whole chunked body (keep-alive)."""
    while True:
        try:
            head = await read_request(r)
        except asyncio.IncompleteReadError:
            s.client_closed += 1
            return
        s.heads.append(head)
        w.write(OK_HEAD + CHUNKED + b"\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
        await w.drain()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_body_read_to_its_end_returns_the_connection_for_reuse(transport: str) -> None:
    async with WireServer(complete_answers) as server, client(transport) as http:
        for _ in range(3):
            async with http.stream("POST", server.url + "/", content=b"{}") as response:
                assert b"".join([c async for c in response.aiter_raw()]) == b"hello world"
        assert (server.accepted, server.client_closed) == (1, 0)  # three requests, one connection, still open


async def answer_then_hold(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    await hold_open(s, r, w)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_body_closed_early_closes_its_connection(transport: str) -> None:
    async with WireServer(answer_then_hold) as server, client(transport) as http:
        async with http.stream("POST", server.url + "/", content=b"{}") as response:
            async for chunk in response.aiter_raw():
                assert chunk == b"abc"
                break
        await asyncio.wait_for(server.closed_event.wait(), 2.0)
        assert server.client_closed == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancelling_a_reader_closes_its_connection_and_frees_the_slot(transport: str) -> None:
    async with WireServer(answer_then_hold) as server, client(transport, max_connections=1) as http:
        first_chunk = asyncio.Event()

        async def reader() -> None:
            async with http.stream("POST", server.url + "/", content=b"{}") as response:
                async for _ in response.aiter_raw():
                    first_chunk.set()

        task = asyncio.create_task(reader())
        await asyncio.wait_for(first_chunk.wait(), 2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.closed_event.wait(), 2.0)
        assert server.client_closed == 1
        # the only slot is free again: a second request gets a (new) connection at once
        async with http.stream("POST", server.url + "/", content=b"{}", timeout=httpx.Timeout(5.0, pool=0.5)) as r:
            assert r.status_code == 200
        assert server.accepted == 2


async def test_both_transports_send_the_same_headers() -> None:
    heads = {}
    for transport in TRANSPORTS:
        async with WireServer(complete_answers) as server, client(transport) as http:
            response = await http.post(
                server.url + "/v1/chat", json={"a": 1}, headers={"x-extra": "1", "x-title": "café".encode()}
            )
            assert response.text == "hello world"
        (head,) = server.heads
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0] == "POST /v1/chat HTTP/1.1"
        host = server.url.removeprefix("http://")
        heads[transport] = sorted(line.lower().replace(host, "HOST") for line in lines[1:] if line)
    assert heads["aiohttp"] == heads["httpcore"]
    assert f"user-agent: python-httpx/{httpx.__version__}" in heads["aiohttp"]
    assert "x-title: caf\xe3\xa9" in heads["aiohttp"]  # c3 a9, the UTF-8 bytes as given (lower-cased as Latin-1)
    assert "content-length: 7" in heads["aiohttp"]  # {"a":1}, compact, as httpx encodes it


def long_header(s: WireServer, r: StreamReader, w: StreamWriter) -> object:
    async def script() -> None:
        await read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nx-long: " + b"a" * 12_000 + b"\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()
        await s.wait_for_eof(r)

    return script()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_12_kib_header_passes_as_it_does_over_httpcore(transport: str) -> None:
    async with WireServer(long_header) as server, client(transport) as http:  # type: ignore[arg-type]
        response = await http.get(server.url + "/")
    assert response.text == "ok" and len(response.headers["x-long"]) == 12_000


def gzipped(s: WireServer, r: StreamReader, w: StreamWriter) -> object:
    async def script() -> None:
        await read_request(r)
        body = gzip.compress(b"compressed answer")
        w.write(OK_HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await w.drain()
        await s.wait_for_eof(r)

    return script()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_httpx_decodes_the_content_encoding(transport: str) -> None:
    async with WireServer(gzipped) as server, client(transport) as http:  # type: ignore[arg-type]
        response = await http.get(server.url + "/")
    assert response.text == "compressed answer"
    assert response.headers["content-encoding"] == "gzip"
