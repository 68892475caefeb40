"""The embedded LLM simulator: a loopback HTTP server speaking the OpenAI and Anthropic wire formats.

`SimServer` is the entry point; `SimBehaviour` (and `Fault`) are the dials a profile or a request sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.sim.behaviour import Fault, SimBehaviour

if TYPE_CHECKING:
    from workbench.sim.server import SimServer

__all__ = ["Fault", "SimBehaviour", "SimServer"]


def __getattr__(name: str) -> Any:
    # The server pulls in aiohttp; profiles import this package for the dials only, so load it on first use.
    if name == "SimServer":
        from workbench.sim.server import SimServer

        return SimServer
    raise AttributeError(name)
