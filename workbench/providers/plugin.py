"""Provider kinds as plugins: what a profile's `kind:` names, resolved through the `workbench.providers` entry points.

A `ProviderPlugin` says everything workbench needs to know about a kind without importing its wire format: the
adapter class (as "module:Class", imported on first use), the wire formats it speaks, its public default base URL,
whether it needs a key, whether it is a local service (the simulator: no proxy, no CA bundle), and, for a kind that
runs something of its own, a service opened per engine (`open`). The engine only ever talks to plugins, so a new
wire format is one module plus one entry point (see README "Writing a provider plugin").

Built in: `openai` and `anthropic` (here) and `sim` (`workbench.sim.plugin`). This module stays light (no httpx, no
adapter import): profile validation reads it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

from workbench.plugins import PROVIDERS as GROUP
from workbench.plugins import Registry, check_type

if TYPE_CHECKING:
    from workbench.profiles.models import Profile, Provider
    from workbench.providers.base import Adapter

__all__ = ["ANTHROPIC", "OPENAI", "PROVIDERS", "ProviderPlugin", "ProviderService"]


class ProviderService(Protocol):
    """Something a provider kind runs for one engine while it is open (the simulator's loopback server)."""

    #: where it serves, known as soon as it is opened (before `warm` has run)
    base_url: str

    def warm(self) -> None:
        """The slow part of starting (a thread, a server): run in the engine's background start-up thread, before
        the first call. Raises `WorkbenchError` (or anything: the engine reports it as the run's error)."""

    async def close(self) -> None:
        """Stop what `open` and `warm` started. Called once, when the engine closes."""


class ProviderPlugin:
    """One provider kind. Instances are what `workbench.providers` entry points name.

    - `adapter`: the `Adapter` subclass, or its import path "module:Class" (imported when first needed);
    - `wires`: the wire formats this kind speaks, the default first (more than one: a profile picks with `wire:`);
      default `(kind,)`;
    - `default_base_url`: used when the profile gives no `base_url` (None: the profile must give one);
    - `needs_key`: False when the environment variables a profile references are optional (unset: left out);
    - `takes_base_url`: False for a kind that serves itself (the simulator);
    - `local`: a service on this machine: a proxy from the environment never applies, no TLS trust store loaded.
    """

    def __init__(
        self,
        kind: str,
        *,
        adapter: str | type[Adapter],
        wires: tuple[str, ...] = (),
        default_base_url: str | None = None,
        needs_key: bool = True,
        takes_base_url: bool = True,
        local: bool = False,
        description: str = "",
    ) -> None:
        self.kind = kind
        self.adapter = adapter
        self.wires = wires or (kind,)
        self.default_base_url = default_base_url
        self.needs_key = needs_key
        self.takes_base_url = takes_base_url
        self.local = local
        self.description = description

    def __repr__(self) -> str:
        return f"<ProviderPlugin {self.kind!r}>"

    def wire_of(self, provider: Provider) -> str:
        """The wire format `provider` speaks: its `wire:` if given, else this kind's default."""
        return provider.wire or self.wires[0]

    def adapter_class(self, wire: str) -> type[Adapter]:
        """The adapter for `wire` (one of `wires`)."""
        adapter = self.adapter
        if isinstance(adapter, str):
            module, _, name = adapter.partition(":")
            adapter = getattr(importlib.import_module(module), name)
            assert isinstance(adapter, type)
        return adapter

    def base_url(self, provider: Provider, service: ProviderService | None) -> str | None:
        """The URL the adapter is given: the profile's `base_url`, else this kind's default."""
        return provider.base_url or self.default_base_url

    async def open(self, profile: Profile, given: Any = None) -> ProviderService | None:
        """Start what this kind runs for an engine on `profile` (None: nothing). Called once per engine, from
        `Engine.start()`, only when the profile has a provider of this kind; must be quick (the slow part goes in
        the service's `warm`). `given` is what the engine's caller handed over for this kind (e.g. a simulator it
        owns), else None."""
        return None


OPENAI = ProviderPlugin(
    "openai",
    adapter="workbench.providers.openai_compat:OpenAICompatAdapter",
    default_base_url="https://api.openai.com/v1",
    description="OpenAI chat completions, and every server speaking it (vLLM, Ollama, Groq, OpenRouter...)",
)
ANTHROPIC = ProviderPlugin(
    "anthropic",
    adapter="workbench.providers.anthropic:AnthropicAdapter",
    default_base_url="https://api.anthropic.com",
    description="Anthropic messages",
)

#: every installed provider kind (built in, and from `workbench.providers` entry points)
PROVIDERS: Registry[ProviderPlugin] = Registry(GROUP, "provider kind", check_type(ProviderPlugin))
