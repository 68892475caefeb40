"""Everything the HTTP transport relies on that aiohttp does not promise, in one place.

Checked against **aiohttp 3.14.5** (installed; yarl 1.25.1, multidict 7.2.1) and **3.10.11** (the oldest minor
pyproject.toml admits), with **httpx 0.29.0** (installed; httpcore 1.0.9), 0.28.1 and 0.27.2, on Python 3.11: the
provider tests and tests/engine/test_resilience_faults.py pass on each (bar one test pinned to httpx >= 0.28's
compact JSON). pyproject.toml admits nothing newer than what was checked (aiohttp <3.15, httpx <0.30): a release
that changes any of this meets tests/providers/test_compat.py (each check fails by name, within seconds, never by
hanging) before it is allowed in. httpx itself is used through public API only (`registry._Client` overrides the
public `build_request` and `cookies`; faults go behind `registry.TransportSeam`), and the parity tests
(tests/providers/test_transport_parity.py) hold the two transports to the same exception classes.

What is leaned on, and what breaks if it changes:

1. **aiohttp private names** `BaseConnector._factory` (the connection protocol factory, built in the connector's
   `__init__` as `functools.partial(ResponseHandler, loop=loop)`) and `ResponseHandler._payload` (the body reader
   of the response being parsed). `fail_fast_on_unparseable_body` uses them to amend a hang: when a response body
   stops parsing mid-way (an invalid chunk header, a chunk longer than its size), aiohttp (3.10.11 and 3.14.5 alike)
   records the parse error on the connection, stops the read timer, and leaves the body reader waiting for data
   that never comes; with the server holding the connection open, the request hangs for good (httpcore raises
   RemoteProtocolError at once). If the names change, the amendment is not installed (the function says so by
   returning False; nothing else changes), and such a body waits until the engine's hard stop (twice the total
   budget) instead of failing at once. If aiohttp fixes the hang,
   `test_plain_aiohttp_still_hangs_on_a_body_that_stops_parsing` fails: then drop the amendment.
2. **aiohttp message text**, where aiohttp gives no type:
   - `payload_error_is_reset`: a body cut by a connection *reset* (not a clean close) reaches the reader as a
     `ClientPayloadError` whose cause is the framing error; the reset is only named in its message
     (`"... ConnectionResetError(104, 'Connection reset by peer')"`). An `OSError` among its causes is checked
     first. If the text changes, a reset mid-body maps to httpx.RemoteProtocolError instead of ReadError:
     the engine's kind (`connection`) and billing (`sent`) are the same; the parity test names the case.
   - `describe`: aiohttp's protocol errors print as the answer it would give as a *server*
     (`400, message='...', url='...'`); the 400 is not the provider's status. Only the parser's own words are kept.
     If the format changes, messages keep aiohttp's wrapping; classification is unaffected.

Classification itself is by exception type (`aiohttp_transport._map_error`), never by message, except for the
reset above.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # aiohttp is imported on the first request (~0.15 s), never on the way to the first event
    import aiohttp

__all__ = ["CHECKED_AGAINST", "fail_fast_on_unparseable_body", "payload_error_is_reset", "describe"]

#: the versions this module was checked against (the tests print them when a check fails)
CHECKED_AGAINST = {"aiohttp": ("3.10.11", "3.14.5"), "httpx": ("0.27.2", "0.28.1", "0.29.0")}


def fail_fast_on_unparseable_body(connector: aiohttp.BaseConnector) -> bool:
    """Make `connector`'s connections fail a response body at once when it stops parsing (see 1. above). Returns
    whether the amendment is installed: False when aiohttp's private names are not what this was written for."""
    from aiohttp.client_proto import ResponseHandler

    factory = getattr(connector, "_factory", None)
    if not (
        isinstance(factory, functools.partial)
        and factory.func is ResponseHandler
        and not factory.args
        and set(factory.keywords) == {"loop"}
        # (a fresh protocol touches nothing: its `__init__` only sets attributes)
        and "_payload" in vars(ResponseHandler(**factory.keywords))
    ):
        return False
    connector._factory = functools.partial(_protocol_class(), **factory.keywords)
    return True


@functools.cache
def _protocol_class() -> type:
    from aiohttp.client_exceptions import ClientPayloadError
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.http_exceptions import HttpProcessingError

    class _FailFastResponseHandler(ResponseHandler):
        def set_exception(self, exc: BaseException, *args: Any) -> None:
            payload = self._payload
            super().set_exception(exc, *args)
            if (
                isinstance(exc, HttpProcessingError)
                and payload is not None
                and not payload.is_eof()
                and payload.exception() is None
            ):
                payload.set_exception(ClientPayloadError(f"Response payload is not completed: {exc!r}"))

    return _FailFastResponseHandler


def payload_error_is_reset(exc: BaseException) -> bool:
    """Whether a `ClientPayloadError` (a body that ended short of its framing) was a connection reset, as opposed
    to the peer closing cleanly (see 2. above)."""
    cause, seen = exc.__cause__, 0
    while cause is not None and seen < 8:  # (a cycle of causes cannot loop for good)
        if isinstance(cause, OSError):
            return True
        cause, seen = cause.__cause__, seen + 1
    return "ConnectionResetError" in str(exc)


#: `400, message='...', url='...'`, alone or wrapped in `<SomeError: ...>` inside another message
_WRAPPED = re.compile(r"<?\b\w*(?:Error|Exception): \d{3}, message=(['\"])(.*?)\1(?:, url=\S*)?>?", re.S)
_BARE = re.compile(r"^\d{3}, message=(['\"])(.*?)\1(?:, url=\S*)?$", re.S)


def describe(exc: Exception) -> str:
    """One readable line for an aiohttp failure: the parser's own words, without the HTTP status it would answer
    with as a server, the URL (the hop already names the provider) or the caret drawn under the offending byte."""
    import aiohttp

    text = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
    text = _WRAPPED.sub(lambda m: m.group(2), _BARE.sub(lambda m: m.group(2), str(text)))
    lines = [line.strip() for line in text.splitlines() if line.strip() and set(line.strip()) != {"^"}]
    return " ".join(lines) or type(exc).__name__
