"""workbench/providers/_compat.py, the one module that leans on what aiohttp does not promise: each check here fails
by name (never by hanging) when an aiohttp release changes what it relies on, and no other provider module reaches
into httpx's or aiohttp's private names."""

from __future__ import annotations

import ast
import asyncio
import functools
import re
import tomllib
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import ContentLengthError, TransferEncodingError
from packaging.requirements import Requirement
from packaging.version import Version
from wire_server import OK_HEAD, StreamReader, StreamWriter, WireServer, read_request  # type: ignore[import-not-found]

from workbench.providers import _compat
from workbench.providers.aiohttp_transport import _map_error

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ROOT / "workbench" / "providers"
VERSIONS = f"installed aiohttp {aiohttp.__version__}, httpx {httpx.__version__}; checked {_compat.CHECKED_AGAINST}"


async def test_the_private_aiohttp_names_the_amendment_needs_are_still_there() -> None:
    connector = aiohttp.TCPConnector()
    try:
        factory = getattr(connector, "_factory", None)
        assert isinstance(factory, functools.partial) and factory.func is ResponseHandler, (
            f"aiohttp's connector no longer builds its protocol through `_factory` ({VERSIONS}): "
            "see workbench/providers/_compat.py, item 1"
        )
        assert "_payload" in vars(factory()), f"ResponseHandler has no `_payload` any more ({VERSIONS})"
        assert _compat.fail_fast_on_unparseable_body(connector) is True
        protocol = connector._factory()  # type: ignore[attr-defined]
        assert isinstance(protocol, ResponseHandler) and type(protocol) is not ResponseHandler
        assert protocol._loop is asyncio.get_running_loop()
    finally:
        await connector.close()


class _NotAConnector:
    pass


def _other_protocol() -> None:
    return None


async def test_an_aiohttp_that_changed_is_left_alone_rather_than_patched_blind() -> None:
    assert _compat.fail_fast_on_unparseable_body(_NotAConnector()) is False  # type: ignore[arg-type]
    odd = _NotAConnector()
    odd._factory = functools.partial(_other_protocol)  # type: ignore[attr-defined]
    assert _compat.fail_fast_on_unparseable_body(odd) is False  # type: ignore[arg-type]
    assert odd._factory.func is _other_protocol  # type: ignore[attr-defined]


async def bad_chunk_held_open(s: WireServer, r: StreamReader, w: StreamWriter) -> None:
    """A first chunk, then a chunk header that does not parse; the connection stays open."""
    await read_request(r)
    w.write(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    await w.drain()
    await asyncio.sleep(0.05)
    w.write(b"zz\r\n")
    await w.drain()
    await s.idle()


async def _read_with_plain_aiohttp(url: str, *, amended: bool) -> BaseException | None:
    """Read the body with a bare aiohttp session (a 0.3 s read timeout); what it raised, or None if still waiting
    after 2 s (the test's own bound: aiohttp's read timer would have fired long before)."""
    connector = aiohttp.TCPConnector()
    if amended:
        assert _compat.fail_fast_on_unparseable_body(connector)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=0.3)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        try:
            async with asyncio.timeout(2.0):
                async with session.post(url, data=b"{}") as response:
                    while await response.content.readany():
                        pass
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ClientError):
                return exc
            return None
        except aiohttp.ClientError as exc:
            return exc
    return None


async def test_plain_aiohttp_still_hangs_on_a_body_that_stops_parsing() -> None:
    """Why the amendment exists. If this fails, aiohttp fails such a body itself: drop the amendment."""
    async with WireServer(bad_chunk_held_open) as server:
        raised = await _read_with_plain_aiohttp(server.url, amended=False)
    assert raised is None, f"aiohttp now raises {raised!r} by itself ({VERSIONS}): drop _compat item 1"


async def test_with_the_amendment_such_a_body_fails_at_once() -> None:
    async with WireServer(bad_chunk_held_open) as server:
        raised = await _read_with_plain_aiohttp(server.url, amended=True)
    assert isinstance(raised, aiohttp.ClientPayloadError), raised
    assert "Invalid character in chunk size" in str(raised)


# What aiohttp 3.14.5 raised for a body cut short, captured from the parity tests' wire server (with the framing
# error aiohttp chains as the cause).
_SHORTFALL = "Not enough data to satisfy content length header (received 3 of 100 bytes)."
_CUT = "Not enough data to satisfy transfer length header."
PAYLOAD_ERRORS = [
    ("Content-Length shortfall, close", f"Response payload is not completed: <ContentLengthError: 400, "
     f"message='{_SHORTFALL}'>", ContentLengthError(_SHORTFALL), False),
    ("Content-Length shortfall, reset", f"Response payload is not completed: <ContentLengthError: 400, "
     f"message='{_SHORTFALL}'>. ConnectionResetError(104, 'Connection reset by peer')", ContentLengthError(_SHORTFALL),
     True),
    ("chunked body cut, close", f"Response payload is not completed: <TransferEncodingError: 400, "
     f"message='{_CUT}'>", TransferEncodingError(_CUT), False),
    ("chunked body cut, reset", f"Response payload is not completed: <TransferEncodingError: 400, "
     f"message='{_CUT}'>. ConnectionResetError(104, 'Connection reset by peer')", TransferEncodingError(_CUT), True),
    ("a cause that is the reset itself", "Response payload is not completed", ConnectionResetError(104, "reset"),
     True),
    ("bad chunk size (the amendment's own error, no cause)", "Response payload is not completed: "
     "<HttpProcessingError: 400, message=\"Invalid character in chunk size:\\n\\n  b'zz'\\n    ^\">", None, False),
]  # fmt: skip


@pytest.mark.parametrize(("case", "message", "cause", "reset"), PAYLOAD_ERRORS, ids=[p[0] for p in PAYLOAD_ERRORS])
def test_a_body_cut_by_a_reset_is_told_from_a_clean_close(
    case: str, message: str, cause: BaseException | None, reset: bool
) -> None:
    exc = aiohttp.ClientPayloadError(message)
    exc.__cause__ = cause
    assert _compat.payload_error_is_reset(exc) is reset


def test_a_cycle_of_causes_does_not_loop() -> None:
    a, b = aiohttp.ClientPayloadError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert _compat.payload_error_is_reset(a) is False


# aiohttp 3.14.5's messages (as printed by the parity cases) and the line a hop shows for each
DESCRIPTIONS = [
    (
        aiohttp.ClientPayloadError(
            f"Response payload is not completed: <ContentLengthError: 400, message='{_SHORTFALL}'>"
        ),
        f"Response payload is not completed: {_SHORTFALL}",
    ),
    (
        aiohttp.ClientPayloadError(
            'Response payload is not completed: <HttpProcessingError: 400, message="Expected LF after chunk data:'
            "\\n\\n  b'Hello'\\n        ^\">"
        ),
        "Response payload is not completed: Expected LF after chunk data:\\n\\n  b'Hello'\\n        ^",
    ),
    (
        aiohttp.ClientResponseError(
            None,  # type: ignore[arg-type]
            (),
            status=400,
            message="Bad status line:\n  Expected HTTP/, RTSP/ or ICE/:\n\n  b'NOT HTTP AT ALL'\n    ^",
        ),
        "Bad status line: Expected HTTP/, RTSP/ or ICE/: b'NOT HTTP AT ALL'",
    ),
    (aiohttp.ServerDisconnectedError(), "Server disconnected"),
    (aiohttp.ClientPayloadError(""), "ClientPayloadError"),
]


@pytest.mark.parametrize(("exc", "expected"), DESCRIPTIONS, ids=[type(d[0]).__name__ for d in DESCRIPTIONS])
def test_aiohttp_messages_lose_the_servers_400_wrapping(exc: Exception, expected: str) -> None:
    assert _compat.describe(exc) == expected


# Classification is by type: the words in a message do not move a failure from one httpx class to another.
TYPED = [
    (aiohttp.SocketTimeoutError("Connection timeout to host (a read timer that says otherwise)"), httpx.ReadTimeout),
    (aiohttp.ConnectionTimeoutError("Timeout on reading data from socket"), httpx.ConnectTimeout),
    (aiohttp.ClientConnectionResetError("Cannot write to closing transport"), httpx.ReadError),
    (ConnectionResetError(104, "Connection reset by peer"), httpx.ReadError),
    (aiohttp.ServerDisconnectedError("Connection timeout"), httpx.RemoteProtocolError),
]


@pytest.mark.parametrize(("exc", "expected"), TYPED, ids=[type(t[0]).__name__ for t in TYPED])
def test_transport_failures_are_classified_by_type_not_by_their_words(
    exc: Exception, expected: type[httpx.HTTPError]
) -> None:
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    assert type(_map_error(exc, request, body=False)) is expected


def _private_uses(path: Path) -> list[str]:
    """`x._name` where x is not self/cls (`super()._name` included), and imports from a private httpx/aiohttp module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and re.fullmatch(r"_[A-Za-z0-9]\w*", node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and re.match(r"(httpx|aiohttp)(\.\w+)*\._", node.module or ""):
            found.append(f"{path.name}:{node.lineno}: from {node.module} import ...")
    return found


def test_no_provider_module_but_the_shim_touches_private_names_of_others() -> None:
    uses = [use for path in sorted(PROVIDERS.glob("*.py")) if path.name != "_compat.py" for use in _private_uses(path)]
    assert uses == [], "private names outside workbench/providers/_compat.py:\n" + "\n".join(uses)


@pytest.mark.parametrize(("name", "installed"), [("httpx", httpx.__version__), ("aiohttp", aiohttp.__version__)])
def test_pyproject_admits_no_release_newer_than_the_minor_last_checked(name: str, installed: str) -> None:
    """A new minor of either could break the transport unseen: it is admitted only by raising the bound in
    pyproject.toml, which this test ties to the versions _compat.py says were checked."""
    (spec,) = [
        Requirement(dep).specifier
        for dep in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
        if Requirement(dep).name == name
    ]
    newest = max(Version(v) for v in _compat.CHECKED_AGAINST[name])
    next_minor = Version(f"{newest.major}.{newest.minor + 1}")
    assert newest in spec and Version(installed) in spec, (spec, installed)
    assert next_minor not in spec, f"pyproject.toml admits {name} {next_minor}, newer than checked ({VERSIONS})"
    assert Version(installed).release[:2] <= newest.release[:2], f"{name} {installed} is not checked ({VERSIONS})"
