"""`ToolServers`: the process-wide registry of MCP server connections, through the official `mcp` SDK (client side).

An async context manager with an explicit lifetime, owned by whoever runs tools (the engine, `tools list`):

    async with ToolServers([ServerSpec("orders", command=("workbench", "demo-mcp"))]) as servers:
        tools = await servers.list_tools("orders")            # tools/list: read once per server, then cached
        result = await servers.call_tool("orders", "lookup_order", {"order_id": 1042}, timeout=10)

What it guarantees:
- **Started on first use, kept.** A server is connected the first time it is needed (stdio: its command is run;
  streamable HTTP: `connect_timeout` bounds the connection and the handshake) and kept until the registry closes.
- **Restarted if it dies**, on the next use, at most `max_restarts` times; then every call answers `unavailable`.
  A call in flight when its server dies answers `unavailable` ("exited during the call"); it is not re-sent (a
  tool may have acted before it died).
- **Calls never raise for what a tool or its server did.** `call_tool` returns a `ToolResult`: `ok`, `error` (the
  tool said so, or the server refused the call), `timeout` (the SDK tells the server the request is cancelled),
  `unavailable`. A cancelled caller gets `CancelledError`, the request is cancelled on the server, and the
  connection stays usable.
- **No server process outlives this process.** Closing the registry (also when the closing task is cancelled)
  ends every stdio server the SDK's way: stdin closed, then SIGTERM, then SIGKILL to its process group. If this
  process is killed instead, each server dies with it: its launcher asks the kernel for SIGKILL on the parent's
  death (Linux `PR_SET_PDEATHSIG`, kept across `exec`), and SIGTERM/SIGHUP handlers (main thread only, chained
  to the previous ones) and an atexit hook kill the process groups of servers still running. (The kernel's
  "parent" is the thread that started the server: the registry's event-loop thread, which must outlive it —
  true when the registry is opened and closed on that loop, as it must be.)
- **Server stderr never reaches the terminal**: each stdio server writes it to `<log_dir>/<name>.stderr.log`
  (`stderr_tail` reads the end; error messages quote it), and the SDK's own log records go to
  `<log_dir>/mcp-client.log` while a registry is open. Without a `log_dir` the logs live in a private temporary
  directory removed on close.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from workbench.errors import WorkbenchError
from workbench.tools.specs import ServerSpec, ToolDef, ToolResult, ToolStatus

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from mcp import Client

__all__ = ["ToolServers", "ToolServerError", "pid_alive", "DEFAULT_CONNECT_TIMEOUT_S", "DEFAULT_MAX_RESTARTS"]

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_RESTARTS = 3
#: a stdio server's teardown is bounded by the SDK (0.5 s flush, 2 s grace, 2 s after SIGTERM, 2 s reap)
_CLOSE_BOUND_S = 8.0
_MAX_LIST_PAGES = 100
_PID_LINE = re.compile(rb"\[workbench\] mcp server pid (\d+)")

# The launcher every stdio server is started through: asks for SIGKILL when its parent dies (Linux), reports its
# pid on stderr (the server's log), then becomes the server (exec: same pid, no extra process).
_LAUNCHER = """\
import os, sys
if sys.platform.startswith("linux"):
    try:
        import ctypes, signal
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
if os.getppid() != int(sys.argv[1]):
    os._exit(1)  # the parent died before the request above took effect
os.write(2, b"[workbench] mcp server pid %d\\n" % os.getpid())
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    os.write(2, ("[workbench] cannot run %s: %s\\n" % (sys.argv[2], exc.strerror)).encode())
    os._exit(127)
"""


class ToolServerError(WorkbenchError):
    """An MCP server could not be started or reached (the message names the command or URL), or is unknown."""

    title = "tool server error"


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (a dead process its parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no procfs: the signal probe is all there is
    return state not in (b"Z", b"X")


# ---- process-wide: the process groups of live stdio servers, killed if this process is signalled or exits ----

_live_groups: dict[int, str] = {}
_guard_lock = threading.Lock()
_guard_users = 0
_previous_handlers: dict[int, Any] = {}
_GUARDED_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)


def _kill_live_groups() -> None:
    for pgid in list(_live_groups):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
        _live_groups.pop(pgid, None)


atexit.register(_kill_live_groups)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _kill_live_groups()
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        # the default action: die of this signal, as this process would have without us
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_signal_guard() -> None:
    global _guard_users
    if threading.current_thread() is not threading.main_thread():
        return
    with _guard_lock:
        _guard_users += 1
        if _guard_users > 1:
            return
        for signum in _GUARDED_SIGNALS:
            try:
                previous = signal.getsignal(signum)
                if previous is _on_signal:
                    continue
                _previous_handlers[signum] = previous
                signal.signal(signum, _on_signal)
            except (OSError, ValueError):
                _previous_handlers.pop(signum, None)


def _remove_signal_guard() -> None:
    global _guard_users
    if threading.current_thread() is not threading.main_thread():
        return
    with _guard_lock:
        if _guard_users == 0:
            return
        _guard_users -= 1
        if _guard_users:
            return
        for signum, previous in list(_previous_handlers.items()):
            try:
                if signal.getsignal(signum) is _on_signal:  # someone else's handler since: leave theirs
                    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            except (OSError, ValueError):
                pass
            _previous_handlers.pop(signum, None)


# ---- one server ----


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    leaf = _leaf(exc)
    text = str(leaf).strip() or type(leaf).__name__
    return text if len(text) < 300 else text[:300] + "..."


def _content_text(content: Iterable[Any]) -> str:
    parts: list[str] = []
    for block in content:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(str(block.text))
        elif kind in ("image", "audio"):
            data = getattr(block, "data", "") or ""
            parts.append(f"[{kind}: {getattr(block, 'mime_type', '?')}, ~{len(data) * 3 // 4} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {getattr(block, 'uri', '?')}]")
        elif kind == "resource":
            resource = getattr(block, "resource", None)
            text = getattr(resource, "text", None)
            parts.append(str(text) if text is not None else f"[resource: {getattr(resource, 'uri', '?')}]")
        else:
            parts.append(f"[{kind or type(block).__name__} content]")
    return "\n".join(parts)


@dataclass
class _Started:
    """One start of a server: filled in by its owner task, `ready` once connected or failed."""

    generation: int
    ready: anyio.Event
    log_offset: int
    client: Client | None = None
    error: BaseException | None = None


class _Server:
    """One server's connection. Its `Client` is entered and exited by one owner task in the registry's task
    group (the SDK's cancel scopes require it); callers use the connected client from any task."""

    def __init__(self, spec: ServerSpec, registry: ToolServers) -> None:
        self.spec = spec
        self.registry = registry
        self.client: Client | None = None
        self.pid: int | None = None
        self.starts = 0
        self.dead = False
        self.tools: tuple[ToolDef, ...] | None = None
        self.lock = anyio.Lock()
        self._stop: anyio.Event | None = None
        self._done: anyio.Event | None = None
        self._generation = 0
        self._pending: _Started | None = None
        self._stderr: TextIO | None = None

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    @property
    def log_path(self) -> Path:
        return self.registry.log_dir / f"{self.spec.name}.stderr.log"

    def alive(self) -> bool:
        if self.client is None or self.dead:
            return False
        return self.pid is None or pid_alive(self.pid)

    async def connect(self) -> Client:
        async with self.lock:
            pending = self._pending
            if pending is not None:
                # a start whose caller gave up waiting (a timeout shorter than the server's start-up): it went on
                # in the background, and this caller takes its outcome instead of starting another process
                await pending.ready.wait()
                self._pending = None
                if pending.client is not None and pending.generation == self._generation and not self.dead:
                    return self._adopt(pending)
            if self.client is not None and self.alive():
                return self.client
            if self.client is not None or self.starts:
                await self._stop_owner()
                if self.starts > self.registry.max_restarts:
                    raise ToolServerError(
                        f"MCP server {self.spec.name!r} ({self.spec.describe()}) stopped {self.starts} times;"
                        f" not restarted again (max_restarts={self.registry.max_restarts})" + self._tail_hint()
                    )
            self.starts += 1
            return await self._start()

    async def _start(self) -> Client:
        self._check_command()
        self._generation += 1
        started = _Started(self._generation, anyio.Event(), self._open_stderr())
        self._stop, self._done = anyio.Event(), anyio.Event()
        self.dead = False
        self.registry.task_group.start_soon(self._own, started, self._stop, self._done)
        self._pending = started
        await started.ready.wait()  # cancelled here: `_pending` keeps the start for the next caller
        self._pending = None
        if started.client is None:
            error = started.error
            if isinstance(error, ToolServerError):
                raise error
            what = "command" if self.spec.command else "url"
            if error is None or (self.spec.command and _connection_lost(error)):
                reason = "it exited (or closed its stdout) before the MCP handshake"
            else:
                reason = _describe(error)
            raise ToolServerError(
                f"MCP server {self.spec.name!r} could not start ({what}: {self.spec.describe()}): {reason}"
                + self._tail_hint()
            )
        return self._adopt(started)

    def _adopt(self, started: _Started) -> Client:
        assert started.client is not None
        self.client = started.client
        if self.spec.command:
            self.pid = self._read_pid(started.log_offset)
            if self.pid is not None:
                _live_groups[self.pid] = self.spec.name  # start_new_session: the pid is the group id
        return started.client

    def _check_command(self) -> None:
        if not self.spec.command:
            return
        program = self.spec.command[0]
        path = self.spec.env.get("PATH", os.environ.get("PATH"))
        if shutil.which(program, path=path) is None and not (os.sep in program and os.access(program, os.X_OK)):
            raise ToolServerError(
                f"MCP server {self.spec.name!r}: command not found: {program!r} (command: {self.spec.describe()})"
            )

    def _open_stderr(self) -> int:
        if not self.spec.command:
            return 0
        if self._stderr is None:
            self.registry.log_dir.mkdir(parents=True, exist_ok=True)
            self._stderr = open(self.log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self._stderr.write(f"--- {stamp} start {self.starts}: {self.spec.describe()}\n")
        self._stderr.flush()
        return self._stderr.tell()

    def _read_pid(self, offset: int) -> int | None:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                match = _PID_LINE.search(fh.read(4096))
        except OSError:
            return None
        return int(match.group(1)) if match else None

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - limit))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _tail_hint(self) -> str:
        lines = [
            ln for ln in self.stderr_tail(600).splitlines() if ln.strip() and not ln.startswith(("[workbench]", "--- "))
        ]
        if not lines or not self.spec.command:
            return ""
        return f"; its stderr ended with: {lines[-1].strip()[:200]} (log: {self.log_path})"

    def _transport(self) -> AbstractAsyncContextManager[Any]:
        if self.spec.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            assert self._stderr is not None
            params = StdioServerParameters(
                command=sys.executable,
                args=["-I", "-S", "-c", _LAUNCHER, str(os.getpid()), *self.spec.command],
                env=dict(self.spec.env),
                cwd=self.spec.cwd,
            )
            return stdio_client(params, errlog=self._stderr)
        return _http_transport(str(self.spec.url), self.registry.connect_timeout)

    async def _own(self, started: _Started, stop: anyio.Event, done: anyio.Event) -> None:
        from mcp import Client

        try:
            with anyio.CancelScope(deadline=anyio.current_time() + self.registry.connect_timeout) as scope:
                async with Client(self._transport(), cache=None) as client:
                    scope.deadline = math.inf
                    started.client = client
                    started.ready.set()
                    await stop.wait()
            if scope.cancelled_caught and started.client is None:
                started.error = ToolServerError(
                    f"MCP server {self.spec.name!r} ({self.spec.describe()}) did not answer within"
                    f" {self.registry.connect_timeout:g} s" + self._tail_hint()
                )
        except Exception as exc:  # noqa: BLE001 - the owner never takes the registry's task group down with it
            if started.client is None:
                started.error = exc
            else:
                log.debug("MCP server %r: connection ended with %s", self.spec.name, _describe(exc))
        finally:
            if started.generation == self._generation:  # an older connection ending says nothing of the current
                self.dead = True
            started.ready.set()
            done.set()

    async def _stop_owner(self) -> None:
        stop, done = self._stop, self._done
        self.client, self.dead, self._pending = None, True, None
        if stop is None or done is None:
            return
        with anyio.CancelScope(shield=True):
            stop.set()
            with anyio.move_on_after(_CLOSE_BOUND_S):
                await done.wait()
        if self.pid is not None:
            if not pid_alive(self.pid):
                _live_groups.pop(self.pid, None)
            self.pid = None

    async def close(self) -> None:
        await self._stop_owner()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


@asynccontextmanager
async def _http_transport(url: str, connect_timeout: float) -> AsyncIterator[Any]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    # connect bounded; reads long (a server may hold a response stream open while a tool runs)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(connect_timeout, read=300.0)) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams


class ToolServers:
    """The registry. `specs` (or `add`) name the servers; nothing starts until a server is first used."""

    def __init__(
        self,
        specs: Iterable[ServerSpec] = (),
        *,
        log_dir: Path | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.max_restarts = max_restarts
        self._log_dir = log_dir
        self._own_log_dir: str | None = None
        self._servers: dict[str, _Server] = {}
        self._tg: TaskGroup | None = None
        self._log_handler: logging.Handler | None = None
        self._sdk_propagate = True
        for spec in specs:
            self.add(spec)

    # ---- lifetime ----

    async def __aenter__(self) -> ToolServers:
        if self._tg is not None:
            raise RuntimeError("ToolServers is already open")
        if self._log_dir is None:
            self._own_log_dir = tempfile.mkdtemp(prefix="workbench-mcp-")
            self._log_dir = Path(self._own_log_dir)
        self._capture_sdk_log()
        _install_signal_guard()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        tg, self._tg = self._tg, None
        try:
            with anyio.CancelScope(shield=True):
                for server in self._servers.values():
                    await server.close()
        finally:
            try:
                if tg is not None:
                    # every owner has ended (or is cancelled here); exited without the body's exception, which
                    # then propagates as itself, not wrapped in the task group's ExceptionGroup
                    tg.cancel_scope.cancel()
                    await tg.__aexit__(None, None, None)
            finally:
                _remove_signal_guard()
                self._release_sdk_log()
                if self._own_log_dir is not None:
                    shutil.rmtree(self._own_log_dir, ignore_errors=True)
                    self._own_log_dir = None
                    self._log_dir = None
        return None

    @property
    def task_group(self) -> TaskGroup:
        if self._tg is None:
            raise RuntimeError("ToolServers is not open: use it as `async with ToolServers(...)`")
        return self._tg

    @property
    def log_dir(self) -> Path:
        if self._log_dir is None:
            raise RuntimeError("ToolServers is not open: its log directory is made on entry")
        return self._log_dir

    def _capture_sdk_log(self) -> None:
        # The SDK logs transport trouble (a server writing non-JSON to stdout, a pipe failing) with `logging`;
        # with no handler configured, Python would print those records on stderr: the terminal, under the TUI.
        sdk = logging.getLogger("mcp")
        if self._log_handler is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.log_dir / "mcp-client.log", encoding="utf-8", delay=True)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            self._log_handler = handler
            self._sdk_propagate = sdk.propagate
            sdk.addHandler(handler)
            sdk.propagate = False

    def _release_sdk_log(self) -> None:
        if self._log_handler is not None:
            sdk = logging.getLogger("mcp")
            sdk.removeHandler(self._log_handler)
            sdk.propagate = self._sdk_propagate
            self._log_handler.close()
            self._log_handler = None

    # ---- servers ----

    def add(self, spec: ServerSpec) -> None:
        """Register a server. The same name again is fine for the same spec, an error for another one."""
        known = self._servers.get(spec.name)
        if known is not None:
            if known.spec != spec:
                raise ValueError(f"MCP server {spec.name!r} is already registered as {known.spec.describe()}")
            return
        self._servers[spec.name] = _Server(spec, self)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._servers)

    def spec(self, server: str) -> ServerSpec:
        return self._get(server).spec

    def _get(self, server: str) -> _Server:
        found = self._servers.get(server)
        if found is None:
            known = ", ".join(self._servers) or "none"
            raise ToolServerError(f"no MCP server named {server!r} (registered: {known})")
        return found

    def pid(self, server: str) -> int | None:
        """The process id of a running stdio server (None before it starts, for HTTP, or if unknown)."""
        return self._get(server).pid

    def restarts(self, server: str) -> int:
        return self._get(server).restarts

    def log_path(self, server: str) -> Path:
        return self._get(server).log_path

    def stderr_tail(self, server: str, limit: int = 2000) -> str:
        return self._get(server).stderr_tail(limit)

    async def start(self, server: str) -> None:
        """Connect now rather than on first use (ToolServerError naming the command or URL if it cannot)."""
        await self._get(server).connect()

    # ---- tools ----

    async def list_tools(self, server: str) -> tuple[ToolDef, ...]:
        """The server's tools (tools/list, every page), read once and cached for the registry's lifetime."""
        entry = self._get(server)
        if entry.tools is not None:
            return entry.tools
        client = await entry.connect()
        found: list[ToolDef] = []
        cursor: str | None = None
        try:
            for _ in range(_MAX_LIST_PAGES):
                page = await client.list_tools(cursor=cursor)
                for tool in page.tools:
                    found.append(
                        ToolDef(
                            name=tool.name,
                            description=(tool.description or tool.title or "").strip(),
                            parameters=dict(tool.input_schema or {"type": "object", "properties": {}}),
                            server=server,
                        )
                    )
                cursor = page.next_cursor
                if not cursor:
                    break
        except Exception as exc:  # noqa: BLE001 - whatever the MCP client raises is this server's error, named
            if _connection_lost(exc):
                entry.dead = True
            raise ToolServerError(
                f"MCP server {server!r} ({entry.spec.describe()}): tools/list failed: {_describe(exc)}"
                + entry._tail_hint()
            ) from None
        entry.tools = tuple(found)
        return entry.tools

    async def all_tools(self) -> dict[str, tuple[ToolDef, ...]]:
        """Every registered server's tools, by server name (in registration order)."""
        return {name: await self.list_tools(name) for name in self._servers}

    async def call_tool(
        self,
        server: str,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> ToolResult:
        """Call tool `name` of `server`. `timeout` (seconds) bounds the whole call, a server (re)start included."""
        entry = self._get(server)
        started_at = time.perf_counter()

        def result(status: ToolStatus, text: str, structured: Mapping[str, Any] | None = None) -> ToolResult:
            latency = time.perf_counter() - started_at
            return ToolResult(server, name, text, status, latency, structured)

        scope = anyio.fail_after(timeout) if timeout is not None else nullcontext()
        try:
            with scope:
                try:
                    client = await entry.connect()
                except ToolServerError as exc:
                    return result("unavailable", exc.message)
                try:
                    answer = await client.call_tool(name, dict(arguments or {}))
                except Exception as exc:  # noqa: BLE001 - a failed call is a tool result the model reads, not a crash
                    if _connection_lost(exc):
                        entry.dead = True
                        return result(
                            "unavailable", f"MCP server {server!r} exited during the call" + entry._tail_hint()
                        )
                    return result("error", f"MCP server {server!r} refused the call: {_describe(exc)}")
        except TimeoutError:
            return result("timeout", f"tool {name!r} of MCP server {server!r} did not answer within {timeout:g} s")
        text = _content_text(answer.content)
        structured = answer.structured_content if isinstance(answer.structured_content, dict) else None
        if not text and structured is not None:
            text = json.dumps(structured, sort_keys=True)
        return result("error" if answer.is_error else "ok", text, structured)


def _connection_lost(exc: BaseException) -> bool:
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    leaf = _leaf(exc)
    if isinstance(leaf, MCPError):
        return leaf.code == CONNECTION_CLOSED
    return isinstance(leaf, (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError))
