"""Which fault a request gets, and the transport-level tricks that act some of them out.

Fault draws are deterministic: each request takes a `random.Random` seeded with the string
"{seed}|{model}|{n}", where n counts that model's requests on this server (1 for the first). The listed
faults are tried in order, one `rng.random() < fault.rate` draw each, and the first that hits wins. So the same
seed and the same sequence of requests per model give the same faults, whatever other models do meanwhile.
(Python seeds `random.Random` from a str through SHA-512, so this holds across processes and hash seeds.)
The same generator then makes the response ids, so those repeat too.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiohttp import web

from workbench.sim.behaviour import Fault

__all__ = [
    "HTTP_FAULT_STATUS",
    "SimRequestError",
    "context_error",
    "answer_admitted",
    "fault_rng",
    "draw_fault",
    "retry_after_headers",
    "wait_forever",
    "drop_connection",
]

HTTP_FAULT_STATUS = {"http_429": 429, "http_500": 500, "http_503": 503, "http_529": 529}

# error kind -> (status, OpenAI error type, OpenAI code, Anthropic error type, default message)
ERROR_KINDS: dict[str, tuple[int, str, str | None, str, str]] = {
    "invalid_request": (400, "invalid_request_error", None, "invalid_request_error", "Invalid request."),
    "not_found": (404, "invalid_request_error", "model_not_found", "not_found_error", "Model not found."),
    "rate_limit": (429, "tokens", "rate_limit_exceeded", "rate_limit_error", "Rate limit reached."),
    "server_error": (
        500,
        "server_error",
        None,
        "api_error",
        "The server had an error while processing your request. Sorry about that!",
    ),
    "unavailable": (503, "server_error", "service_unavailable", "api_error", "The service is temporarily unavailable."),
    "overloaded": (529, "overloaded_error", "overloaded", "overloaded_error", "Overloaded"),
    "context_length": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "invalid_request_error",
        "The prompt is longer than the model's context window.",
    ),
}


def context_error(wire: str, prompt_tokens: int, window: int) -> SimRequestError:
    """The wire format's own words for a prompt over the context window (what each provider really says)."""
    if wire == "anthropic":
        message = f"prompt is too long: {prompt_tokens} tokens > {window} maximum"
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages resulted in "
            f"{prompt_tokens} tokens. Please reduce the length of the messages."
        )
    return SimRequestError("context_length", message, param="messages")


_FAULT_KIND = {
    "http_429": "rate_limit",
    "http_500": "server_error",
    "http_503": "unavailable",
    "http_529": "overloaded",
}


class SimRequestError(Exception):
    """A request the simulator answers with an error; each wire module renders it in its own body shape."""

    def __init__(
        self,
        kind: str,
        message: str | None = None,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        status, _, _, _, default = ERROR_KINDS[kind]
        super().__init__(message or default)
        self.kind = kind
        self.status = status
        self.message = message or default
        self.param = param
        self.headers = headers or {}

    @classmethod
    def from_fault(cls, fault: Fault, model: str) -> SimRequestError:
        kind = _FAULT_KIND[fault.kind]
        message = None
        if kind == "rate_limit":
            wait = f" Please try again in {fault.retry_after_s:g}s." if fault.retry_after_s is not None else ""
            message = f"Rate limit reached for {model} (simulated).{wait}"
        return cls(kind, message, headers=retry_after_headers(fault))


def fault_rng(seed: int, model: str, index: int) -> random.Random:
    return random.Random(f"{seed}|{model}|{index}")


def draw_fault(faults: list[Fault], rng: random.Random) -> Fault | None:
    for fault in faults:
        if rng.random() < fault.rate:
            return fault
    return None


def retry_after_headers(fault: Fault) -> dict[str, str]:
    """Retry-After in whole seconds (rounded up, as the header allows no fraction) plus retry-after-ms."""
    if fault.kind != "http_429" or fault.retry_after_s is None:
        return {}
    return {
        "Retry-After": str(math.ceil(fault.retry_after_s)),
        "retry-after-ms": str(round(fault.retry_after_s * 1000)),
    }


async def wait_forever() -> NoReturn:
    """Block until cancelled: by the client hanging up (handler cancellation) or by SimServer.stop()."""
    await asyncio.get_running_loop().create_future()
    raise AssertionError("unreachable")


async def drop_connection(request: web.Request) -> None:
    """Abort the TCP connection once what was written so far has left, so the client sees a cut, not a close."""
    transport = request.transport
    if transport is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    while transport.get_write_buffer_size() > 0 and loop.time() < deadline:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.005)  # let the kernel hand the last segment over before the reset
    transport.abort()


async def answer_admitted(
    plan: Any,
    wire: str,
    error_response: Callable[[SimRequestError], web.StreamResponse],
    reply: Callable[[], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """The part of handling a request that both wire formats share once it is admitted: act out a hang, work
    out the answer, refuse a prompt over the context window, then reply (and shrug off a client that left)."""
    try:
        if plan.fault is not None and plan.fault.kind == "hang":
            await wait_forever()
        await plan.prepare()
        window = plan.behaviour.context_window
        if window is not None and plan.figures.prompt > window:
            return error_response(context_error(wire, plan.figures.prompt, window))
        try:
            return await reply()
        except ConnectionError:  # the client went away mid-answer: nothing left to tell it
            if plan.on_hangup is not None:
                plan.on_hangup()
            return web.Response(status=499)
    except asyncio.CancelledError:  # the client hung up (handler cancellation) or the server stops
        if plan.on_hangup is not None:
            plan.on_hangup()
        raise


def load_body(raw: bytes, wording: str) -> Any:
    """A request body as JSON, or a SimRequestError (400) in the wire's own words: not JSON, not UTF-8, or nested
    deeper than Python's parser can follow (a 100,000-deep array is an attack, not a request)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SimRequestError("invalid_request", f"{wording}: {exc}") from None
    except RecursionError:
        raise SimRequestError("invalid_request", f"{wording}: the JSON is nested too deeply") from None


def checked_tools(body: dict[str, Any]) -> list[Any] | None:
    """`tools`, when given, must be a list of objects (their shape is the wire's business; only counted here)."""
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise SimRequestError("invalid_request", "tools: must be a list of objects", param="tools")
    return tools
