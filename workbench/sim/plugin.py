"""`kind: sim` as a provider plugin: the embedded simulator, started for an engine on first use.

`open` (in `Engine.start()`) only reserves the loopback port — bound and listening, so every adapter knows its
base URL at once, a taken port fails before anything streams, and requests made before the server serves wait in
the socket's backlog instead of being refused. `warm` (in the engine's background start-up thread, after the
tokenizer tables) imports aiohttp and starts `SimServer` on that socket; `close` stops it. The simulator speaks
both built-in wire formats, with their adapters: the `openai` and `anthropic` plugins'.

This module imports neither the server nor aiohttp until `warm`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import TYPE_CHECKING, Any

from workbench.errors import SimError, WorkbenchError
from workbench.providers.plugin import PROVIDERS, ProviderPlugin, ProviderService

if TYPE_CHECKING:
    from workbench.profiles.models import Profile, Provider
    from workbench.providers.base import Adapter
    from workbench.sim.server import SimServer

__all__ = ["SIM", "SIM_HOST", "SimPlugin", "SimService", "reserve_port"]

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


class SimService:
    """The simulator one engine uses: either started here on a reserved port, or one the caller owns (`given`)."""

    def __init__(self, profile: Profile, given: SimServer | None = None) -> None:
        self._profile = profile
        self._owned = given is None
        self._lock = threading.Lock()  # warm() runs in a worker thread, close() in the event loop
        self._closing = False
        self.server: SimServer | None = given
        self._sock: socket.socket | None = None
        if given is not None:
            self.base_url = given.base_url  # (started by `SimPlugin.open`)
        else:
            self._sock = reserve_port(SIM_HOST, profile.sim.port)
            host, bound = self._sock.getsockname()[:2]
            self.base_url = f"http://{host}:{bound}"

    def warm(self) -> None:
        with self._lock:
            sock = self._sock
            if sock is None or self.server is not None:
                return
            if self._closing:  # closed before it was needed: never started at all
                sock.close()
                return
        try:
            from workbench.profiles.simulated import sim_behaviours  # the same dials `workbench sim serve` serves
            from workbench.sim.server import SimServer

            server = SimServer(dict(sim_behaviours(self._profile)), seed=self._profile.sim.seed, sock=sock)
            server.start()
        except WorkbenchError:
            sock.close()
            raise
        except Exception as exc:
            sock.close()
            raise SimError(f"the embedded simulator could not start: {type(exc).__name__}: {exc}") from exc
        with self._lock:
            self.server = server

    async def close(self) -> None:
        with self._lock:
            self._closing = True
            server, sock = self.server, self._sock
            if self._owned:
                self.server = None
        if not self._owned:
            return  # the caller's simulator: the caller stops it
        if server is not None:
            await asyncio.to_thread(server.stop)
        elif sock is not None:
            sock.close()


class SimPlugin(ProviderPlugin):
    def adapter_class(self, wire: str) -> type[Adapter]:
        return PROVIDERS.get(wire).adapter_class(wire)  # the simulator speaks the built-in wires

    def base_url(self, provider: Provider, service: ProviderService | None) -> str | None:
        if service is None:
            return None
        return service.base_url.rstrip("/") + self.adapter_class(self.wire_of(provider)).API_ROOT

    async def open(self, profile: Profile, given: Any = None) -> SimService:
        if given is not None:  # a simulator the caller owns: start it (a no-op if it runs)
            try:
                await asyncio.to_thread(given.start)
            except OSError as exc:
                raise SimError(f"the embedded simulator could not start: {exc}") from exc
        return SimService(profile, given)


SIM = SimPlugin(
    "sim",
    adapter="(per wire)",
    wires=("openai", "anthropic"),
    needs_key=False,
    takes_base_url=False,
    local=True,
    description="the embedded offline simulator (speaks openai or anthropic: `wire:`)",
)
