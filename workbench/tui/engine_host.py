"""The app's one engine, held open by a long-lived task so the embedded simulator starts and stops in one task.

The task starts after the first paint (the first frame never waits for httpx, tokenizer tables or the
simulator); a run that comes earlier waits for it. A plain task rather than a worker: it lives as long as the
app, and `workers.wait_for_complete()` (which tests use to wait for a run) must not wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from typing import TYPE_CHECKING, Any

from workbench.errors import EngineError, WorkbenchError

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile

EngineFactory = Callable[["LoadedProfile"], AsyncContextManager[Any]]


def default_engine(loaded: LoadedProfile) -> Any:
    from workbench.engine.run import Engine  # lazy: the first paint does not wait for httpx, tiktoken, ...

    return Engine(loaded)


class EngineHost:
    """Starts the engine on demand, hands it out, reports a failure to start through `on_error`."""

    def __init__(
        self, loaded: LoadedProfile, factory: EngineFactory | None, on_error: Callable[[str, str], None]
    ) -> None:
        self.loaded = loaded
        self.factory: EngineFactory = factory or default_engine
        self._on_error = on_error
        self.engine: Any = None
        self.error: str | None = None
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._hold(), name="workbench engine")

    async def _hold(self) -> None:
        try:
            async with self.factory(self.loaded) as engine:
                self.engine = engine
                self._ready.set()
                await self._closing.wait()
        except Exception as exc:  # noqa: BLE001 - an engine that cannot start is shown on screen, the app stays up
            self.error = str(exc)
            self._on_error(str(exc), exc.title if isinstance(exc, WorkbenchError) else "the engine failed")
        finally:
            self.engine = None
            self._ready.set()  # wake any run waiting for an engine that will not come

    async def wait(self) -> bool:
        """Wait until the engine has started (True) or failed to (False)."""
        self.start()
        await self._ready.wait()
        return self.engine is not None

    async def get(self) -> Any:
        if not await self.wait():
            raise EngineError(f"the engine is not running: {self.error or 'it was closed'}")
        return self.engine

    async def replace(self, loaded: LoadedProfile) -> None:
        """Run another profile from now on (the composer's edits): close this engine, start one on `loaded`."""
        await self.close()
        self.loaded = loaded
        self.engine, self.error, self._task = None, None, None
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self.start()

    async def close(self) -> None:
        self._closing.set()
        if self._task is not None:
            try:
                await self._task
            except asyncio.CancelledError:
                pass
