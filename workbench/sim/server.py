"""The embedded LLM simulator: a real aiohttp server on loopback, in its own thread with its own event loop.

It speaks OpenAI chat completions (/v1/chat/completions, /v1/models) and Anthropic Messages (/v1/messages),
with the latency, throughput, usage shapes and faults each model's `SimBehaviour` dials. Running on its own
loop means the engine's timings never include the simulator's work. See workbench/sim/faults.py for how
fault draws stay deterministic, and workbench/sim/text.py for how answers are made.

    with SimServer(default=SimBehaviour(ttft_ms=0)) as sim:
        OpenAI(base_url=f"{sim.base_url}/v1", api_key="x")
        Anthropic(base_url=sim.base_url, api_key="x")
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from workbench.errors import SimError
from workbench.sim import wire_anthropic, wire_openai
from workbench.sim.behaviour import SimBehaviour, UsageShape
from workbench.sim.faults import SimRequestError, draw_fault, fault_rng
from workbench.sim.plan import Plan, Prompt
from workbench.tokens import TokenizerError, get_encoding

__all__ = ["SimServer"]

_log = logging.getLogger("workbench.sim")


class _OneLineBadRequests(logging.Filter):
    """aiohttp logs a whole traceback for every malformed HTTP request it answers 400 (a port scanner, a broken
    client): one line is enough. Any other record passes as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        from aiohttp.http_exceptions import HttpProcessingError

        if isinstance(exc, HttpProcessingError):
            reason = " ".join(str(exc.message or type(exc).__name__).split())[:200]
            record.msg, record.args = "simulator: malformed HTTP request answered %s: %s", (exc.code, reason)
            record.exc_info = record.exc_text = None
            if record.levelno > logging.WARNING:  # (a debug-level record, e.g. a non-HTTP client, stays debug)
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_BAD_REQUEST_FILTER = _OneLineBadRequests()
_MAX_BODY = 64 * 1024 * 1024  # prompts of many MB must pass, as real APIs take them
_STOP_TIMEOUT_S = 5.0


class SimServer:
    """A simulator you start and stop; thread-safe to dial while it serves."""

    def __init__(
        self,
        models: Mapping[str, SimBehaviour] | None = None,
        *,
        default: SimBehaviour | None = None,
        seed: int = 7,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
    ) -> None:
        self._models: dict[str, SimBehaviour] = dict(models or {})
        # A registry without a default answers unknown models with 404; no registry serves any name.
        self._default = default if default is not None or models is not None else SimBehaviour()
        self.seed = seed
        self.host = host
        self._port = port
        # A socket the caller has already bound and set listening (workbench.engine.startup reserves the port before
        # aiohttp is even imported): served as is; connections made meanwhile wait in its backlog.
        self._sock = sock
        if sock is not None:
            self.host, self._port = sock.getsockname()[:2]
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last: dict[str, Prompt] = {}
        self._hangups: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = threading.Event()

    # -- public API ----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._thread is None:
            raise SimError("the simulator is not started", hint="call SimServer.start() first")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def models(self) -> dict[str, SimBehaviour]:
        with self._lock:
            return dict(self._models)

    def set_behaviour(self, model_id: str, behaviour: SimBehaviour) -> None:
        """Dial a model at run time (from any thread); the next request sees it."""
        with self._lock:
            self._models[model_id] = behaviour

    def hangup_count(self, model_id: str) -> int:
        """Requests for this model whose client closed the connection before the answer was complete."""
        with self._lock:
            return self._hangups.get(model_id, 0)

    def _hung_up(self, model_id: str) -> None:
        with self._lock:
            self._hangups[model_id] = self._hangups.get(model_id, 0) + 1

    def request_count(self, model_id: str) -> int:
        """Requests admitted for this model id so far (the n of its fault draws)."""
        with self._lock:
            return self._counts.get(model_id, 0)

    def last_prompt(self, model_id: str) -> Prompt | None:
        """The last request admitted for this model id (its messages, system prompt first): what it received."""
        with self._lock:
            return self._last.get(model_id)

    def start(self) -> SimServer:
        """Start serving; returns once the port listens. Calling it again while running does nothing."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._stopped.clear()
        thread = threading.Thread(target=self._run, args=(ready, failure), name="workbench-sim", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join(timeout=_STOP_TIMEOUT_S)
            exc = failure[0]
            raise SimError(
                f"the simulator could not listen on {self.host}:{self._port}: {exc}",
                hint="check the host, or pick another port (0 picks a free one)",
            ) from exc
        self._thread = thread
        return self

    def stop(self) -> None:
        """Stop serving. Open requests (hung, stalled, streaming) are cancelled, so this never waits on them."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            future.result(timeout=_STOP_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a shutdown that failed (or timed out) still ends the loop below
            _log.debug("simulator shutdown was not clean", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_STOP_TIMEOUT_S)
        self._thread = None
        self._loop = None
        self._stopped.set()

    def serve_forever(self, on_ready: Callable[[SimServer], None] | None = None) -> None:
        """Start, call `on_ready(self)`, and block until Ctrl-C (or `stop()` from another thread); then stop."""
        self.start()
        try:
            if on_ready is not None:
                on_ready(self)
            while not self._stopped.wait(0.5):  # a timed wait keeps Ctrl-C responsive
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the wire modules --------------------------------------------------------------------------

    def admit(self, prompt: Prompt, headers: Mapping[str, str], wire_shape: UsageShape) -> Plan:
        """Resolve the behaviour (registry, default, x-sim-behaviour), count the request and draw its fault."""
        with self._lock:
            base = self._models.get(prompt.model, self._default)
        if base is None:
            raise SimRequestError(
                "not_found",
                f"The model `{prompt.model}` does not exist (simulator serves: {', '.join(sorted(self._models))}).",
                param="model",
            )
        behaviour = _override(base, headers.get("x-sim-behaviour"))
        try:
            get_encoding(behaviour.tokenizer)  # cached after the first time
        except TokenizerError as exc:
            raise SimRequestError("invalid_request", f"tokenizer: {exc}") from exc
        seed = _seed(headers.get("x-sim-seed"), behaviour.seed if behaviour.seed is not None else self.seed)
        with self._lock:
            index = self._counts.get(prompt.model, 0) + 1
            self._counts[prompt.model] = index
            self._last[prompt.model] = prompt
        rng = fault_rng(seed, prompt.model, index)
        fault = draw_fault(behaviour.faults, rng)
        shape = behaviour.usage_shape or wire_shape
        model = prompt.model
        return Plan(
            prompt, behaviour, shape, seed, index, fault, rng, on_hangup=lambda: self._hung_up(model), wire=wire_shape
        )

    # -- the server thread ---------------------------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._warm_tokenizers()
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # noqa: BLE001 - port taken, bad host: handed to start(), which raises it
            failure.append(exc)
            ready.set()
            loop.close()
            self._loop = None
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _warm_tokenizers(self) -> None:
        """Load the encodings before listening, so the first request is not the one that pays for it."""
        with self._lock:
            behaviours = [*self._models.values(), *([self._default] if self._default else [])]
        for name in {b.tokenizer for b in behaviours}:
            try:
                get_encoding(name)
            except TokenizerError:
                _log.warning("simulator: tokenizer %r is unavailable; requests using it get a 400", name)

    async def _listen(self) -> None:
        server_log = logging.getLogger("aiohttp.server")
        if _BAD_REQUEST_FILTER not in server_log.filters:
            server_log.addFilter(_BAD_REQUEST_FILTER)
        app = web.Application(client_max_size=_MAX_BODY, middlewares=[self._track])
        app.router.add_post("/v1/chat/completions", self._wrap(wire_openai.handle))
        app.router.add_post("/chat/completions", self._wrap(wire_openai.handle))
        app.router.add_post("/v1/messages", self._wrap(wire_anthropic.handle))
        app.router.add_post("/messages", self._wrap(wire_anthropic.handle))
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/models", self._list_models)
        # handler_cancellation: a client that hangs up cancels its handler, so hung requests do not pile up.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site: web.BaseSite = (
            web.TCPSite(runner, self.host, self._port) if self._sock is None else web.SockSite(runner, self._sock)
        )
        await site.start()
        self._runner = runner
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self._port = server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _track(self, request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            return await handler(request)
        finally:
            if task is not None:
                self._tasks.discard(task)

    def _wrap(
        self, handle: Callable[[SimServer, web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await handle(self, request)

        return handler

    async def _list_models(self, request: web.Request) -> web.Response:
        names = sorted(self.models)
        if "anthropic-version" in request.headers:
            data: list[dict[str, Any]] = [
                {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"} for n in names
            ]
            body: dict[str, Any] = {
                "data": data,
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        else:
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "workbench-sim"} for n in names]
            body = {"object": "list", "data": data}
        return web.json_response(body)


def _override(base: SimBehaviour, header: str | None) -> SimBehaviour:
    if not header:
        return base
    try:
        fields = json.loads(header)
        if not isinstance(fields, dict):
            raise ValueError("it must be a JSON object")
        return SimBehaviour.model_validate({**base.model_dump(exclude_unset=False), **fields})
    except ValueError as exc:  # JSON and pydantic validation errors both
        raise SimRequestError("invalid_request", f"x-sim-behaviour header: {exc}") from exc
    except RecursionError:
        raise SimRequestError("invalid_request", "x-sim-behaviour header: the JSON is nested too deeply") from None


def _seed(header: str | None, fallback: int) -> int:
    if header is None or header == "":
        return fallback
    try:
        return int(header)
    except ValueError as exc:
        raise SimRequestError("invalid_request", f"x-sim-seed header: not an integer: {header!r}") from exc
