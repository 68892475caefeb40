"""The engine's slow start-up work, kept off the path to the first event.

Starting an engine on the demo profile used to cost ~0.7 s before `run_started`: loading a BPE table (~0.15 s
each, pure CPU), importing aiohttp (~0.15 s) and starting the embedded simulator's thread. None of that is needed to
say that a run has started, so `Engine.start()` now does only what must fail early and is cheap:

- it reserves the simulator's loopback port at once (bound and listening), so every adapter knows its base URL,
  a taken port still fails before anything streams, and requests made before the server serves wait in the
  socket's backlog instead of being refused;
- it schedules the rest — tokenizer tables, then `SimServer` on that socket — as one task in a worker thread. An
  asyncio task only starts when the event loop next gets control, which in `workbench run` is after `run_started`
  has been written, and in the TUI after the first frame: the slow work no longer competes with them for the GIL.

`Engine.run()` awaits `ready()` after its first events and before its first hop, so no hop ever sees a cold
tokenizer or a simulator that is not serving. A failure in the background becomes the run's error (a
`run_finished` with status `error`), never a lost run.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from workbench.errors import SimError, WorkbenchError

if TYPE_CHECKING:
    from workbench.sim.server import SimServer

__all__ = ["Startup", "reserve_port"]

SIM_HOST = "127.0.0.1"
_BACKLOG = 128


def reserve_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (0 picks a free port) and listening, ready to hand to the simulator."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp's own TCPSite does on Unix
        sock.bind((host, port))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise SimError(
            f"the simulator could not listen on {host}:{port}: {exc}",
            hint="pick another `sim.port` in the profile (0 picks a free one)",
        ) from exc
    return sock


class Startup:
    """Background start-up of one engine: warm tokenizers, then (if the profile needs it) start the simulator."""

    def __init__(
        self,
        encodings: Iterable[str],
        *,
        sim_models: Callable[[], dict[str, Any]] | None,
        seed: int = 7,
        port: int = 0,
    ) -> None:
        self._encodings = sorted(set(encodings))
        self._sim_models = sim_models
        self._seed = seed
        self._sock = reserve_port(SIM_HOST, port) if sim_models is not None else None
        self.sim_base_url: str | None = None
        if self._sock is not None:
            host, bound = self._sock.getsockname()[:2]
            self.sim_base_url = f"http://{host}:{bound}"
        self.sim: SimServer | None = None
        self._closing = threading.Event()  # set by close(): a simulator not started yet is not started at all
        self._submitted = False  # set on the task's first step, in the event loop's thread
        self._task: asyncio.Task[None] = asyncio.create_task(self._run(), name="engine start-up")

    async def _run(self) -> None:
        self._submitted = True
        await asyncio.to_thread(self._work)

    def _work(self) -> None:
        from workbench.tokens import get_encoding

        for name in self._encodings:
            if self._closing.is_set():
                break
            get_encoding(name)
        if self._sock is None or self._sim_models is None:
            return
        if self._closing.is_set():
            self._sock.close()
            return
        try:
            from workbench.sim.server import SimServer

            server = SimServer(self._sim_models(), seed=self._seed, sock=self._sock)
            server.start()
        except WorkbenchError:
            self._sock.close()
            raise
        except Exception as exc:
            self._sock.close()
            raise SimError(f"the embedded simulator could not start: {type(exc).__name__}: {exc}") from exc
        self.sim = server

    @property
    def done(self) -> bool:
        """True once the background work has ended (well or not)."""
        return self._task.done()

    async def ready(self) -> None:
        """Wait until the tokenizers are loaded and the simulator serves. Raises WorkbenchError if either failed."""
        try:
            await asyncio.shield(self._task)
        except WorkbenchError:
            raise
        except Exception as exc:
            raise SimError(f"the engine could not start: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """End the background work early (an engine closed before its first run, e.g. on an unknown route, does not
        start a simulator only to stop it), wait for what is under way, then stop the simulator."""
        self._closing.set()
        if not self._submitted:
            self._task.cancel()  # its first step has not run: the thread is never started
        await asyncio.wait([self._task])  # a thread under way cannot be interrupted: it ends soon, sim skipped
        if self._task.cancelled():
            if self._sock is not None:
                self._sock.close()
        elif self._task.exception() is not None:
            pass  # reported by ready(); nothing left to stop
        if self.sim is not None:
            sim, self.sim = self.sim, None
            await asyncio.to_thread(sim.stop)
