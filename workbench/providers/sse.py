"""Incremental Server-Sent Events parser for streamed model responses (WHATWG "event stream" rules).

It runs once per received network chunk on the per-token path, so it works on bytes: a chunk is split on line
endings with `bytes` operations (no per-character Python loop) and text is decoded once per event. Rules kept:

- LF, CRLF and bare CR all end a line, including a CRLF split across two chunks;
- `event:`, `data:`, `id:`, `retry:` fields; one optional space after the colon; a line without a colon is a
  field name with an empty value; lines starting with ":" are comments; unknown fields are ignored;
- several `data:` lines join with "\n"; a blank line dispatches the event; an event with no `data` line is not
  dispatched; `id` persists across events (the "last event ID"); `retry` is taken only when all digits;
- a leading UTF-8 BOM is dropped;
- an event still being built when the stream ends is *not* dispatched: the caller sees the stream end without
  its terminator and can call it what it is (a dropped stream), rather than acting on half an event.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEDecoder", "aiter_sse"]

_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class SSEEvent:
    event: str  # "message" when the event named no type
    data: str
    id: str | None = None  # the last event ID in force when this event was dispatched
    retry: int | None = None  # the last valid `retry:` value (ms) seen on the stream


class SSEDecoder:
    """Feed it byte chunks in arrival order; `feed` returns the events completed by each chunk."""

    __slots__ = ("_pending", "_skip_lf", "_started", "_event", "_data", "_more", "_last_id", "_retry")

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # an incomplete line, in pieces (avoids quadratic concatenation)
        self._skip_lf = False  # the previous chunk ended in CR: a LF opening the next one completes a CRLF
        self._started = False  # the BOM check has been made
        self._event: bytes | None = None
        self._data: bytes | None = None  # first data line; most events have exactly one
        self._more: list[bytes] | None = None  # further data lines, only for multi-line events
        self._last_id: str | None = None
        self._retry: int | None = None

    @property
    def in_event(self) -> bool:
        """True when an event has been started but not yet dispatched (or a line is incomplete)."""
        return bool(self._pending) or self._data is not None or self._event is not None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not self._started:
            head = b"".join(self._pending) + chunk if self._pending else chunk
            if len(head) < 3 and _BOM.startswith(head):
                self._pending = [head] if head else []
                return []  # too short to tell whether a BOM is coming
            self._started = True
            self._pending = []
            chunk = head[3:] if head.startswith(_BOM) else head
        has_cr = b"\r" in chunk
        if not has_cr and b"\n" not in chunk:
            if chunk:
                self._pending.append(chunk)
            return []
        if self._pending:
            self._pending.append(chunk)
            buf = b"".join(self._pending)
            self._pending = []
        else:
            buf = chunk
        if has_cr:
            if buf[-1:] == b"\r":
                self._skip_lf = True
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        rest = lines.pop()
        if rest:
            self._pending.append(rest)
        out: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data is not None:
                    out.append(self._dispatch())
                else:
                    self._event = None  # a blank line with no data resets the event type
                continue
            if line[:6] == b"data: ":  # the overwhelmingly common case, first
                value = line[6:]
                name = b"data"
            else:
                colon = line.find(b":")
                if colon == 0:
                    continue  # comment (keep-alive)
                if colon < 0:
                    name, value = line, b""
                else:
                    name, value = line[:colon], line[colon + 1 :]
                    if value[:1] == b" ":
                        value = value[1:]
            if name == b"data":
                if self._data is None:
                    self._data = value
                elif self._more is None:
                    self._more = [value]
                else:
                    self._more.append(value)
            elif name == b"event":
                self._event = value
            elif name == b"id":
                if b"\x00" not in value:
                    self._last_id = value.decode("utf-8", "replace")
            elif name == b"retry":
                if value.isdigit():  # bytes.isdigit: ASCII digits only, as the spec requires
                    self._retry = int(value)
        return out

    def _dispatch(self) -> SSEEvent:
        data = (self._data or b"") if self._more is None else b"\n".join([self._data or b"", *self._more])
        event = self._event.decode("utf-8", "replace") if self._event else "message"
        self._data = None
        self._more = None
        self._event = None
        return SSEEvent(event, data.decode("utf-8", "replace"), self._last_id, self._retry)


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """Events from an async byte iterator (e.g. httpx `response.aiter_bytes()`); a trailing partial event is
    dropped. Adapters on the hot path call `SSEDecoder.feed` inline instead, saving one generator hop."""
    feed = SSEDecoder().feed
    async for chunk in chunks:
        for event in feed(chunk):
            yield event


async def drain(chunks: AsyncIterator[bytes], limit_s: float = 0.5) -> None:
    """Read what follows a stream's terminator (the chunked-encoding trailer) so httpx returns the connection to
    its keep-alive pool instead of closing it (a closed connection costs the next request a new TCP connect, and
    a pool full of half-read connections costs httpcore a scan per request). Bounded: a server that keeps the
    body open past `limit_s` is simply closed."""
    import asyncio

    import httpx

    try:
        async with asyncio.timeout(limit_s):
            async for _ in chunks:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass
