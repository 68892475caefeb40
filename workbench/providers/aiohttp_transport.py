"""An httpx transport that sends over aiohttp: httpx stays the client API, aiohttp's faster HTTP/1.1 stack does the I/O.

Measured against the simulator, a bare aiohttp client streams several times the requests per second of httpx over
httpcore at concurrency 50, most of the difference being httpcore's per-request pool bookkeeping. This transport
keeps everything the adapters see (``httpx.Request`` in, ``httpx.Response`` with a streamed body out, httpx's
exception classes) and swaps only the wire underneath:

- one ``aiohttp.ClientSession`` + ``TCPConnector`` per transport (so per provider client), made lazily inside the
  running loop on the first request; keep-alive pool of ``max_connections``; no cookie jar; no redirects (httpx
  follows them when asked); no decompression (httpx decodes ``Content-Encoding`` itself); no extra headers (the
  request's headers go out exactly as httpx built them: aiohttp adds no User-Agent, Accept or Content-Type);
- the request's ``extensions["timeout"]`` per request: ``pool`` bounds the wait for a free connection (a semaphore
  of ``max_connections`` held from the request until its body is closed, so aiohttp's own pool never queues),
  ``connect`` bounds DNS + TCP + TLS, ``read`` is the longest silence between two reads, before the headers or
  mid-body (aiohttp's ``sock_read``). aiohttp has no write timeout: a request that cannot be sent is bounded by
  the read timer, which starts once the request is handed to the socket;
- aiohttp's exceptions mapped to the httpx class httpx over httpcore raises in the same situation (see
  ``_map_error``; tests/providers/test_transport_parity.py runs each fault through both transports), so the
  engine's classification — and billing: a cut stream is ``sent``, a refused connect is not — is unchanged;
- a body read to its end returns the connection to the pool; a body closed early (cancelled hedge loser, Esc,
  a timeout) closes the connection, so the server sees the hang-up.

Proxies from the environment are not read here (aiohttp would look them up, and ~/.netrc, in a thread on every
request); `workbench.providers.registry.make_client` keeps httpcore for a provider when a proxy applies.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx

from workbench.providers import _compat

if TYPE_CHECKING:  # aiohttp is imported on the first request (~0.15 s), never on the way to the first event
    import aiohttp

__all__ = ["AiohttpTransport"]

#: headers aiohttp would otherwise add when the request lacks them; httpx decides what is sent
_SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})
_MAX_HEADER = 16 * 1024
#: aiohttp rounds timeouts above this many seconds up to a whole second of loop time; never round
_NO_CEIL = 1e9


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx transport over one aiohttp session. `ssl_context` is called once, when the session is made (loading a
    CA bundle costs ~25 ms, paid on the first request instead of at construction)."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        ssl_context: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=0,
            keepalive_timeout=self.keepalive_expiry,
            ssl=self._ssl_context() if self._ssl_context is not None else True,
            timeout_ceil_threshold=_NO_CEIL,
        )
        _compat.fail_fast_on_unparseable_body(connector)  # aiohttp 3.14 would hang on a body that stops parsing
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(total=None, ceil_threshold=_NO_CEIL),
            requote_redirect_url=False,
            # no stricter than httpcore (h11 takes a header block up to 16 KiB): aiohttp's default is 8190 per line
            max_line_size=_MAX_HEADER,
            max_field_size=_MAX_HEADER,
        )
        self._slots = asyncio.Semaphore(self.max_connections)
        return self._session

    def _client_timeout(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        key = (connect, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            import aiohttp

            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read, ceil_threshold=_NO_CEIL)
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        session = self._session or self._open()
        slots = self._slots
        assert slots is not None
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
        if slots.locked():  # every connection busy: wait for one, bounded by the pool timeout
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("no free connection in the pool", request=request) from None
        else:
            await slots.acquire()
        try:
            try:
                data: Any = request.content or None
            except httpx.RequestNotRead:
                data = _request_body(request.stream)  # type: ignore[arg-type]
            try:
                response = await session.request(
                    request.method,
                    _url(request.url),
                    # aiohttp writes header text as UTF-8: decoding httpx's bytes as UTF-8 sends them unchanged
                    headers=[(k.decode(), v.decode(errors="replace")) for k, v in request.headers.raw],
                    data=data,
                    allow_redirects=False,
                    timeout=self._client_timeout(timeouts.get("connect"), timeouts.get("read")),
                )
            except Exception as exc:
                mapped = _map_error(exc, request, body=False)
                if mapped is exc:
                    raise
                raise mapped from exc
        except BaseException:
            slots.release()
            raise
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response, request, slots),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
            request=request,
        )

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _ResponseBody(httpx.AsyncByteStream):
    """The body as aiohttp hands it over, chunk by chunk (never buffered whole). Closing it after the end returns
    the connection to the pool; closing it before the end closes the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request, slots: asyncio.Semaphore) -> None:
        self._response = response
        self._request = request
        self._slots: asyncio.Semaphore | None = slots
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = self._response.content.readany
        try:
            while chunk := await read():
                yield chunk
        except Exception as exc:
            mapped = _map_error(exc, self._request, body=True)
            if mapped is exc:
                raise
            raise mapped from exc
        self._complete = True

    async def aclose(self) -> None:
        slots, self._slots = self._slots, None
        if slots is None:
            return
        if self._complete:
            self._response.release()  # (already released at the end of the body: keep-alive)
        else:
            self._response.close()  # mid-body: the connection cannot be reused; the server sees it close
        slots.release()


def _url(url: httpx.URL) -> Any:
    from yarl import URL

    return URL(str(url), encoded=True)


async def _request_body(stream: httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


def _map_error(exc: Exception, request: httpx.Request, *, body: bool) -> Exception:
    """The httpx exception httpx over httpcore raises for the same failure (checked by the parity tests).

    `body` says the response headers had arrived (the failure is in the body). httpcore's vocabulary: a TCP/TLS
    connect that fails is ConnectError (ConnectTimeout when slow); a socket read that fails is ReadError, one that
    waits too long ReadTimeout; a peer that closes before the response or the body is complete, or sends what is not
    HTTP, is RemoteProtocolError."""
    import aiohttp

    if isinstance(exc, httpx.HTTPError):
        return exc
    message = _compat.describe(exc)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return httpx.ConnectTimeout(message, request=request)
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake, unreachable
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.ClientPayloadError):
        # the body ended short of its Content-Length or chunked framing: a reset socket is a read failure, a clean
        # close is the peer breaking the protocol (httpcore: "peer closed connection without sending complete
        # message body")
        if _compat.payload_error_is_reset(exc):
            return httpx.ReadError(message, request=request)
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(
            "Server disconnected without sending a response." if not body else message, request=request
        )
    if isinstance(exc, (aiohttp.ClientOSError, ConnectionResetError)):  # (aiohttp's reset is both)
        return httpx.ReadError(message, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # a status line or header that does not parse
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return httpx.ReadError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    if isinstance(exc, aiohttp.ClientError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, OSError):
        return httpx.ReadError(message, request=request) if body else httpx.ConnectError(message, request=request)
    return exc
