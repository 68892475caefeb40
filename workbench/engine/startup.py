"""The engine's slow start-up work, kept off the path to the first event.

Starting an engine on the demo profile used to cost ~0.7 s before `run_started`: loading a BPE table (~0.15 s
each, pure CPU), importing aiohttp (~0.15 s) and starting the embedded simulator's thread. None of that is needed to
say that a run has started, so `Engine.start()` now does only what must fail early and is cheap — it opens the
services of the profile's provider kinds (`ProviderPlugin.open`: the simulator reserves its loopback port there,
see workbench/sim/plugin.py) — and schedules the rest — tokenizer tables, then each service's `warm` — as one task
in a worker thread. An asyncio task only starts when the event loop next gets control, which in `workbench run` is
after `run_started` has been written, and in the TUI after the first frame: the slow work no longer competes with
them for the GIL.

`Engine.run()` awaits `ready()` after its first events and before its first hop, so no hop ever sees a cold
tokenizer or a service that is not serving. A failure in the background becomes the run's error (a
`run_finished` with status `error`), never a lost run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable

from workbench.errors import EngineError, WorkbenchError

__all__ = ["Startup"]


class Startup:
    """Background start-up of one engine: warm tokenizers, then each provider service (`warmers`, in order)."""

    def __init__(self, encodings: Iterable[str], *, warmers: Iterable[Callable[[], None]] = ()) -> None:
        self._encodings = sorted(set(encodings))
        self._warmers = list(warmers)
        self._closing = threading.Event()  # set by close(): a service not warmed yet is not warmed at all
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
        for warm in self._warmers:
            if self._closing.is_set():
                return
            warm()

    @property
    def done(self) -> bool:
        """True once the background work has ended (well or not)."""
        return self._task.done()

    async def ready(self) -> None:
        """Wait until the tokenizers are loaded and every service serves. Raises WorkbenchError if one failed."""
        try:
            await asyncio.shield(self._task)
        except WorkbenchError:
            raise
        except Exception as exc:
            raise EngineError(f"the engine could not start: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """End the background work early (an engine closed before its first run, e.g. on an unknown route, does not
        start a simulator only to stop it) and wait for what is under way; the services are closed by the engine."""
        self._closing.set()
        if not self._submitted:
            self._task.cancel()  # its first step has not run: the thread is never started
        await asyncio.wait([self._task])  # a thread under way cannot be interrupted: it ends soon
        if not self._task.cancelled():
            self._task.exception()  # (reported by ready(); retrieved so asyncio does not log it)
