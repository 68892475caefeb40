"""Client-side fault injection: the simulator's fault kinds, acted out in the HTTP client for any provider.

`FaultTransport` wraps a client's httpx transport. For a request whose JSON body names a model with a fault
dialed, it draws (seeded, `rate` per request) and, on a hit, acts the fault out without the server's help:

    http_429 / http_500 / http_503 / http_529   an error response made here (429 with Retry-After), not sent
    hang                                         never answers (until the engine's timeout or a cancel)
    stall                                        forwards, passes `after_events` SSE events on, then goes silent
    drop                                         forwards, passes `after_events` events on, then cuts the stream
    malformed                                    a 200 stream whose event does not parse
    http_200_error                               a 200 stream carrying an error event

so the TUI's fault toggles and tests work against OpenAI, Anthropic or any OpenAI-compatible server, not only the
simulator. `Engine.inject_fault(model_alias, kind, rate)` installs it on the provider's client and dials it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

KINDS = ("http_429", "http_500", "http_503", "http_529", "hang", "stall", "drop", "malformed", "http_200_error")
_STATUS = {"http_429": 429, "http_500": 500, "http_503": 503, "http_529": 529}
_ANTHROPIC_TYPE = {429: "rate_limit_error", 500: "api_error", 503: "api_error", 529: "overloaded_error"}


@dataclass(slots=True)
class InjectedFault:
    kind: str
    rate: float = 1.0
    retry_after_s: float = 1.0
    after_events: int = 5


class FaultTransport(httpx.AsyncBaseTransport):
    """An httpx transport that injects faults per wire model id, then (or otherwise) delegates to `inner`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, seed: int = 0) -> None:
        self.inner = inner
        self.faults: dict[str, InjectedFault] = {}
        self.rng = random.Random(seed)
        self.injected: dict[str, int] = {}  # model id -> faults acted out (for tests and the TUI)

    def set(self, model_id: str, kind: str | None, rate: float = 1.0, **options: float) -> None:
        """Dial `kind` at `rate` for `model_id`; `kind=None` clears it."""
        if kind is None:
            self.faults.pop(model_id, None)
            return
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, not {rate}")
        self.faults[model_id] = InjectedFault(kind, rate, **options)  # type: ignore[arg-type]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fault = self._draw(request)
        if fault is None:
            return await self.inner.handle_async_request(request)
        anthropic = request.url.path.endswith("/messages")
        kind = fault.kind
        if kind in _STATUS:
            return _error_response(request, _STATUS[kind], fault, anthropic)
        if kind == "hang":
            await asyncio.get_running_loop().create_future()  # until cancelled
        if kind in ("malformed", "http_200_error"):
            body = b"data: {this is not json\n\n" if kind == "malformed" else _error_event(anthropic)
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body, request=request)
        response = await self.inner.handle_async_request(request)
        if response.status_code != 200:
            return response
        response.stream = _CutStream(response.stream, fault.after_events, stall=kind == "stall")  # type: ignore[arg-type]
        return response

    def _draw(self, request: httpx.Request) -> InjectedFault | None:
        if not self.faults:
            return None
        try:
            model = json.loads(request.content or b"{}").get("model")
        except (ValueError, AttributeError, httpx.RequestNotRead):
            return None
        fault = self.faults.get(model) if isinstance(model, str) else None
        if fault is None or self.rng.random() >= fault.rate:
            return None
        self.injected[model] = self.injected.get(model, 0) + 1
        return fault

    async def aclose(self) -> None:
        await self.inner.aclose()


class _CutStream(httpx.AsyncByteStream):
    """Passes `after` SSE events on, then cuts the stream (drop) or goes silent (stall)."""

    def __init__(self, inner: httpx.AsyncByteStream, after: int, *, stall: bool) -> None:
        self.inner, self.after, self.stall = inner, after, stall

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.inner:
            events = chunk.count(b"\n\n")
            need = self.after - seen
            if events >= need:
                cut = 0
                for _ in range(need):  # pass on the complete events up to the cut
                    cut = chunk.index(b"\n\n", cut) + 2
                if cut:
                    yield chunk[:cut]
                if self.stall:
                    await asyncio.get_running_loop().create_future()
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body (injected drop)"
                )
            seen += events
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


def _error_response(request: httpx.Request, status: int, fault: InjectedFault, anthropic: bool) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if status == 429:
        headers["retry-after"] = str(max(0, round(fault.retry_after_s)))
        headers["retry-after-ms"] = str(round(fault.retry_after_s * 1000))
    message = f"injected {fault.kind} (workbench client-side fault)"
    if anthropic:
        body = {"type": "error", "error": {"type": _ANTHROPIC_TYPE[status], "message": message}}
    else:
        body = {"error": {"message": message, "type": "server_error" if status >= 500 else "requests", "code": None}}
    return httpx.Response(status, headers=headers, content=json.dumps(body).encode(), request=request)


def _error_event(anthropic: bool) -> bytes:
    if anthropic:
        data = {"type": "error", "error": {"type": "overloaded_error", "message": "injected http_200_error"}}
        return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"
    return (
        b"data: "
        + json.dumps({"error": {"message": "injected http_200_error", "type": "server_error"}}).encode()
        + b"\n\n"
    )


def install(client: httpx.AsyncClient, *, seed: int = 0) -> FaultTransport:
    """The client's fault transport, wrapping its current transport the first time. `client` is one
    `make_client` made (TypeError otherwise): the fault transport goes behind its transport seam."""
    from workbench.providers.registry import transport_seam

    seam = transport_seam(client)
    transport = seam.inner
    if isinstance(transport, FaultTransport):
        return transport
    wrapped = seam.inner = FaultTransport(transport, seed=seed)
    return wrapped
