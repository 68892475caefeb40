"""Turning failed provider calls into `ProviderError`s with the right kind and retry hint.

Three sources of failure, one taxonomy (see `workbench.providers.base`):
- `classify_http_error`: a non-2xx response (status, headers, body text of either wire format);
- `classify_error_object`: an `{"error": ...}` object met inside an HTTP 200 body or stream;
- `from_httpx_exception`: a transport failure (timeouts, refused or dropped connections).

The status decides the kind first; the body then refines it where providers overload a status: a 429 that is
really a spend limit / insufficient quota is `quota` (not retryable) unless the error text itself names a wait
(Gemini words per-minute limits as "quota" and says "retry in 43s"); a 400 that says the prompt is too long is
`context_window`; a refusal on policy grounds is `content_policy`; Anthropic's `overloaded_error` is
`overloaded` whatever the status. Messages come from the parsed error body, never from request headers, and
every known secret (API key, header values) is masked before it reaches a message or the stored body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from workbench.errors import ErrorClass
from workbench.providers.base import ErrorKind, ProviderError
from workbench.providers.content import MalformedToolCall, ToolCallAssembler
from workbench.providers.retry_after import retry_after, retry_after_from_body

__all__ = [
    "classify_http_error",
    "classify_error_object",
    "from_httpx_exception",
    "parse_error_body",
    "redact",
    "stream_ended_early",
    "malformed",
    "SHAPE_ERRORS",
    "shape_error",
    "read_error_text",
    "auth_secrets",
]

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "prompt is too long",
    "maximum context length",
    "context length",
    "context window",
    "context_window",
    "input token count",
    "input is too long",
    "too many input tokens",
    "prompt too long",
    "reduce the length of the messages",
)
_POLICY_MARKERS = (
    "content_filter",
    "content_policy",
    "content policy",
    "content management policy",
    "responsibleaipolicyviolation",
    "usage policy",
    "usage policies",
    "safety system",
    "flagged",
    "invalid_prompt",
)
_QUOTA_MARKERS = (
    "insufficient_quota",
    "exceeded your current quota",
    "spend limit",
    "spending limit",
    "billing",
    "credit balance",
    "insufficient credits",
    "usage limits",
)
_STATUS_KIND: dict[int, ErrorKind] = {
    400: ErrorClass.BAD_REQUEST,
    401: ErrorClass.AUTH,
    402: ErrorClass.QUOTA,  # Payment Required: OpenRouter and others on exhausted credit
    403: ErrorClass.AUTH,
    404: ErrorClass.NOT_FOUND,
    408: ErrorClass.TIMEOUT,
    409: ErrorClass.CONFLICT,
    413: ErrorClass.BAD_REQUEST,
    422: ErrorClass.BAD_REQUEST,
    429: ErrorClass.RATE_LIMIT,
    500: ErrorClass.SERVER,
    502: ErrorClass.SERVER,
    503: ErrorClass.SERVER,
    504: ErrorClass.SERVER,
    529: ErrorClass.OVERLOADED,
}
# Error `type` (Anthropic; also inside 200 streams as an `error` event) or `code` (OpenAI) values -> kind.
_TYPE_KIND: dict[str, ErrorKind] = {
    "overloaded_error": ErrorClass.OVERLOADED,
    "rate_limit_error": ErrorClass.RATE_LIMIT,
    "api_error": ErrorClass.SERVER,
    "server_error": ErrorClass.SERVER,
    "timeout_error": ErrorClass.TIMEOUT,
    "authentication_error": ErrorClass.AUTH,
    "permission_error": ErrorClass.AUTH,
    "not_found_error": ErrorClass.NOT_FOUND,
    "invalid_request_error": ErrorClass.BAD_REQUEST,
    "request_too_large": ErrorClass.BAD_REQUEST,
    "billing_error": ErrorClass.QUOTA,
    "insufficient_quota": ErrorClass.QUOTA,
    # OpenAI `code` values worth knowing when no status is at hand
    "rate_limit_exceeded": ErrorClass.RATE_LIMIT,
    "model_not_found": ErrorClass.NOT_FOUND,
    "invalid_api_key": ErrorClass.AUTH,
}
_MAX_MESSAGE = 500
# Kinds a body may turn into context_window / content_policy: the statuses providers use for those refusals
# (and "server" for error objects inside 200 responses, which default to it).
_REFINABLE = frozenset({"bad_request", "unknown", "auth", "server"})


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (of 4+ characters; shorter ones would mask ordinary words) replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text


def parse_error_body(body: str | None) -> tuple[str | None, str | None, str | None]:
    """(message, type, code) from an error body of either wire format, or Nones when it is not one.

    Shapes: OpenAI `{"error": {"message", "type", "code"}}`; Anthropic `{"type": "error", "error": {"type",
    "message"}}`; Gemini's list `[{"error": {...}}]`; vLLM/Ollama `{"message": ...}` or `{"error": "text"}`."""
    if not body:
        return None, None, None
    try:
        obj: Any = json.loads(body)
    except ValueError:
        return None, None, None
    return _fields(obj)


def _fields(obj: Any) -> tuple[str | None, str | None, str | None]:
    if isinstance(obj, list) and obj:
        obj = obj[0]
    if not isinstance(obj, dict):
        return None, None, None
    err = obj.get("error", obj)
    if isinstance(err, str):
        return err, None, None
    if not isinstance(err, dict):
        return None, None, None
    message = err.get("message")
    etype = err.get("type") or err.get("status")
    code = err.get("code")
    return (
        str(message) if message is not None else None,
        str(etype) if etype is not None else None,
        str(code) if code is not None else None,
    )


def _refine(kind: ErrorKind, haystack: str, body_wait: float | None) -> ErrorKind:
    """`body_wait`: a wait the error *text* names. Headers do not count: Anthropic sends Retry-After on its
    spend-limit 429 too, which no wait will lift."""
    if "overloaded_error" in haystack:
        return ErrorClass.OVERLOADED
    if kind in _REFINABLE and any(marker in haystack for marker in _CONTEXT_MARKERS):
        return ErrorClass.CONTEXT_WINDOW
    if kind in _REFINABLE and any(marker in haystack for marker in _POLICY_MARKERS):
        return ErrorClass.CONTENT_POLICY
    if any(marker in haystack for marker in _QUOTA_MARKERS):
        if kind == "rate_limit" and body_wait is not None and "insufficient_quota" not in haystack:
            return ErrorClass.RATE_LIMIT  # a per-minute "quota" with a stated wait is a rate limit
        if kind in ("rate_limit", "bad_request", "unknown", "auth"):
            return ErrorClass.QUOTA
    return kind


def _build(
    kind: ErrorKind,
    message: str,
    *,
    status: int | None,
    retry_after_s: float | None,
    provider: str | None,
    model: str | None,
    body: str | None,
    secrets: Iterable[str | None],
    sent: bool = True,
) -> ProviderError:
    secrets = tuple(secrets)
    message = redact(message.strip() or kind.replace("_", " "), secrets)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return ProviderError(
        kind,
        message,
        status=status,
        retry_after_s=retry_after_s,
        provider=provider or None,
        model=model,
        body=redact(body, secrets) if body else None,
        sent=sent,
    )


def classify_http_error(
    status: int,
    headers: Mapping[str, str] | None,
    body: str | None,
    *,
    provider: str | None = None,
    model: str | None = None,
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """The `ProviderError` for a non-success HTTP response."""
    message, etype, code = parse_error_body(body)
    if status in _STATUS_KIND:
        kind = _STATUS_KIND[status]
    elif 500 <= status < 600:
        kind = ErrorClass.SERVER
    elif 400 <= status < 500:
        kind = ErrorClass.BAD_REQUEST
    else:
        kind = ErrorClass.UNKNOWN
    wait = retry_after(headers, message or body)
    # Markers are looked for in the parsed fields; a body that is not a known error shape is searched whole.
    parsed = " ".join(x for x in (etype, code, message) if x)
    kind = _refine(kind, (parsed or body or "").lower(), retry_after_from_body(body))
    if message is None:
        text = (body or "").strip()
        message = text[:200] if text and not text.startswith("<") else httpx.codes.get_reason_phrase(status)
    return _build(
        kind, message, status=status, retry_after_s=wait, provider=provider, model=model, body=body, secrets=secrets
    )


def classify_error_object(
    obj: Any,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    provider: str | None = None,
    model: str | None = None,
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """The `ProviderError` for an error object found inside a successful (HTTP 200) body or stream."""
    message, etype, code = _fields(obj)
    # Nothing more specific known: the provider failed after accepting the request, like a 5xx would.
    kind: ErrorKind = ErrorClass.SERVER
    if etype and etype in _TYPE_KIND:
        kind = _TYPE_KIND[etype]
    elif code and code in _TYPE_KIND:
        kind = _TYPE_KIND[code]
    elif code is not None and code.isdigit() and int(code) in _STATUS_KIND:
        kind = _STATUS_KIND[int(code)]  # Gemini and vLLM put the HTTP status in `code`
    elif etype == "RESOURCE_EXHAUSTED":
        kind = ErrorClass.RATE_LIMIT
    wait = retry_after(headers, message)
    haystack = " ".join(x for x in (etype, code, message) if x).lower()
    kind = _refine(kind, haystack, retry_after_from_body(message))
    try:
        body = json.dumps(obj)[:2000]
    except (TypeError, ValueError):
        body = None
    return _build(
        kind,
        message or "error object in a successful response",
        status=status,
        retry_after_s=wait,
        provider=provider,
        model=model,
        body=body,
        secrets=secrets,
    )


def _timeout_of(exc: httpx.HTTPError, which: str) -> float | None:
    try:
        timeouts = exc.request.extensions.get("timeout") or {}
    except RuntimeError:  # the exception carries no request
        return None
    value = timeouts.get(which)
    return float(value) if value is not None else None


def from_httpx_exception(
    exc: httpx.HTTPError,
    *,
    provider: str | None = None,
    model: str | None = None,
    mid_stream: bool = False,
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """The `ProviderError` for a transport failure. `mid_stream` says the response had already begun."""
    kind: ErrorKind
    # Connecting failed, or no pooled connection came free: the request never left this machine.
    sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    if isinstance(exc, httpx.TimeoutException):
        kind = ErrorClass.TIMEOUT
        if isinstance(exc, httpx.ConnectTimeout):
            what, which = "connecting timed out", "connect"
        elif isinstance(exc, httpx.ReadTimeout):
            which = "read"
            what = "stalled mid-response: no data" if mid_stream else "no response headers"
        elif isinstance(exc, httpx.WriteTimeout):
            what, which = "sending the request timed out", "write"
        else:
            what, which = "no free connection in the pool", "pool"
        limit = _timeout_of(exc, which)
        message = f"{what} within {limit:g} s ({which} timeout)" if limit is not None else f"{what} ({which} timeout)"
    elif isinstance(exc, httpx.DecodingError):
        kind, message = ErrorClass.MALFORMED, f"response body could not be decoded: {exc}"
    elif isinstance(exc, httpx.RequestError):
        kind = ErrorClass.CONNECTION
        if isinstance(exc, httpx.ConnectError):
            what = "could not connect"
        elif mid_stream:
            what = "connection dropped mid-response"
        else:
            what = "connection failed"
        detail = str(exc).strip()
        message = f"{what}: {detail}" if detail else what
    else:
        kind, message = ErrorClass.UNKNOWN, f"{type(exc).__name__}: {exc}"
    return _build(
        kind,
        message,
        status=None,
        retry_after_s=None,
        provider=provider,
        model=model,
        body=None,
        secrets=secrets,
        sent=sent,
    )


def stream_ended_early(*, provider: str | None, model: str | None, what: str) -> ProviderError:
    """The stream closed cleanly but before its terminator (`[DONE]`, `message_stop`)."""
    return ProviderError(
        ErrorClass.CONNECTION, f"stream ended early: closed before {what}", provider=provider or None, model=model
    )


def malformed(
    detail: str, *, provider: str | None, model: str | None, sample: str | None, secrets: Iterable[str | None] = ()
) -> ProviderError:
    """A body or event that does not parse; `sample` is kept (masked, truncated) for debugging."""
    return _build(
        ErrorClass.MALFORMED,
        detail,
        status=None,
        retry_after_s=None,
        provider=provider,
        model=model,
        body=sample[:500] if sample else None,
        secrets=secrets,
    )


def check_tool_calls(
    calls: ToolCallAssembler, *, provider: str | None, model: str | None, secrets: Iterable[str | None] = ()
) -> None:
    """At the end of a turn: every tool call's arguments must be a JSON object, or the turn is `malformed`
    (never handed on as a half-parsed dict)."""
    try:
        calls.calls(check=True)
    except MalformedToolCall as exc:
        raise malformed(str(exc), provider=provider, model=model, sample=None, secrets=secrets) from None


#: What reading an event or body of an unexpected shape raises (a list where an object belongs, a number where
#: text belongs, nesting too deep to parse, a number too large to convert): adapters turn these into `malformed`.
SHAPE_ERRORS: tuple[type[Exception], ...] = (
    AttributeError,
    TypeError,
    KeyError,
    IndexError,
    ValueError,
    OverflowError,
    RecursionError,
)


def shape_error(
    exc: Exception, *, provider: str | None, model: str | None, secrets: Iterable[str | None] = ()
) -> ProviderError:
    """The `malformed` error for an answer whose JSON parsed but had a shape the adapter cannot read."""
    detail = str(exc)[:200]
    return malformed(
        f"unexpected shape in the answer ({type(exc).__name__}: {detail})" if detail else "unexpected shape",
        provider=provider,
        model=model,
        sample=None,
        secrets=secrets,
    )


_ERROR_BODY_LIMIT = 64 * 1024


async def read_error_text(response: httpx.Response) -> str:
    """Up to 64 KiB of an error response's body as text; a transport failure while reading keeps what came."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size >= _ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass  # the status already says what went wrong; the body is only detail
    return b"".join(parts)[:_ERROR_BODY_LIMIT].decode("utf-8", "replace")


async def read_body(response: httpx.Response, *, provider: str, model: str, secrets: Iterable[str]) -> bytes:
    """A whole (non-streamed) response body; a transport failure while reading is a classified ProviderError.
    The response is always closed."""
    try:
        return await response.aread()
    except httpx.HTTPError as exc:
        raise from_httpx_exception(exc, provider=provider, model=model, mid_stream=True, secrets=secrets) from None
    finally:
        await response.aclose()


_SECRET_HEADER_HINTS = ("auth", "key", "token", "secret", "cookie", "signature")


def auth_secrets(api_key: str | None, headers: Mapping[str, str]) -> tuple[str, ...]:
    """What must never appear in an error: the key, and the values of credential-like headers (a
    "Bearer xyz" value also yields "xyz")."""
    found: list[str] = [api_key] if api_key else []
    for name, value in headers.items():
        if any(hint in name.lower() for hint in _SECRET_HEADER_HINTS) and value:
            found.append(value)
            token = value.rsplit(" ", 1)[-1]
            if token != value:
                found.append(token)
    return tuple(found)
