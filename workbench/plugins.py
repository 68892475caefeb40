"""Plugin registries fed by entry points: provider kinds, gate check types and tools.

A package adds to workbench by declaring an entry point in one of three groups (its own `pyproject.toml`):

    [project.entry-points."workbench.providers"]
    echo = "wb_echo_provider:PLUGIN"        # a `workbench.providers.plugin.ProviderPlugin`

    [project.entry-points."workbench.gates"]     # a `workbench.gates.GateCheckPlugin`
    [project.entry-points."workbench.tools"]     # tools for agents (filled by the next issue)

Workbench's own kinds are declared the same way in its `pyproject.toml`, and mirrored in `BUILTINS` below, which
is what a lookup of a built-in name reads: a source checkout that was never (re)installed has no or stale entry point
metadata and must still run, and resolving `openai` must not cost a scan of every installed distribution's
metadata (~10 ms) on the way to a run's first event. Names that are not built in are looked up in the entry points
(scanned once per process, on the first such lookup). A third-party entry point may not replace a built-in name:
it is ignored and reported by `problems()`; two third-party plugins claiming one name are reported the same way
(the first by distribution name wins). A test keeps `BUILTINS` equal to the `pyproject.toml` declarations.

This module imports nothing heavy: loading a plugin imports its module, nothing more.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from importlib import metadata

__all__ = ["BUILTINS", "GROUPS", "PluginError", "PluginInfo", "Registry", "check_type"]

T = TypeVar("T")

PROVIDERS = "workbench.providers"
GATES = "workbench.gates"
TOOLS = "workbench.tools"
GROUPS = (PROVIDERS, GATES, TOOLS)

#: workbench's own plugins, per group: name -> "module:attribute" (the same as pyproject.toml's entry points)
BUILTINS: dict[str, dict[str, str]] = {
    PROVIDERS: {
        "openai": "workbench.providers.plugin:OPENAI",
        "anthropic": "workbench.providers.plugin:ANTHROPIC",
        "sim": "workbench.sim.plugin:SIM",
    },
    GATES: {
        "contains": "workbench.gates:CONTAINS",
        "forbids": "workbench.gates:FORBIDS",
        "json": "workbench.gates:JSON",
        "length": "workbench.gates:LENGTH",
        "relevance": "workbench.gates:RELEVANCE",
        "judge": "workbench.gates:JUDGE",
        "pii": "workbench.gates:PII",
    },
    TOOLS: {},
}


class PluginError(WorkbenchError):
    """A plugin that is not installed, or that could not be loaded."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a name comes from: `value` is "module:attribute"; `dist` the distribution (None: workbench itself)."""

    name: str
    value: str
    dist: str | None = None
    version: str | None = None

    @property
    def origin(self) -> str:
        return "built in" if self.dist is None else f"{self.dist} {self.version or ''}".strip()


def _load(value: str) -> object:
    module, _, attr = value.partition(":")
    obj: object = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """The plugins of one entry point group. `what` names one in messages ("provider kind", "gate check type");
    `check` turns a loaded object into a `T` or raises TypeError saying what it should have been."""

    def __init__(self, group: str, what: str, check: Callable[[str, object], T]) -> None:
        self.group = group
        self.what = what
        self._check = check
        self._builtins = {name: PluginInfo(name, value) for name, value in BUILTINS.get(group, {}).items()}
        self._installed: dict[str, PluginInfo] | None = None
        self._problems: list[str] = []
        self._loaded: dict[str, T] = {}

    def _scan(self) -> dict[str, PluginInfo]:
        if self._installed is not None:
            return self._installed
        from importlib import metadata  # (~5 ms of imports, only when a name is not built in)

        found = dict(self._builtins)
        problems: list[str] = []
        eps = sorted(metadata.entry_points(group=self.group), key=lambda ep: (_dist_name(ep) or "", ep.name))
        for ep in eps:
            dist = _dist_name(ep)
            if dist == "workbench":  # our own declarations: the same as BUILTINS (a test keeps them equal)
                continue
            info = PluginInfo(ep.name, ep.value, dist, ep.dist.version if ep.dist is not None else None)
            known = found.get(ep.name)
            if known is not None:
                if known.value != info.value:  # (the same package seen twice on sys.path is not a conflict)
                    problems.append(
                        f"{self.what} {ep.name!r} from {info.origin} is ignored: {ep.name!r} is already {known.origin}"
                    )
                continue
            found[ep.name] = info
        self._installed, self._problems = found, problems
        return found

    def names(self) -> list[str]:
        """Every installed name: the built-in ones in their declared order, then the third-party ones sorted."""
        return [*self._builtins, *sorted(set(self._scan()) - set(self._builtins))]

    def infos(self) -> list[PluginInfo]:
        return [self._scan()[name] for name in self.names()]

    def problems(self) -> list[str]:
        """Entry points that were ignored, and why (a name taken twice)."""
        self._scan()
        return list(self._problems)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._builtins or name in self._scan())

    def info(self, name: str) -> PluginInfo:
        info = self._builtins.get(name) or self._scan().get(name)
        if info is None:
            raise PluginError(
                self.unknown(name), hint=f"install the package that provides it, or use one of: {self.listing()}"
            )
        return info

    def listing(self) -> str:
        return ", ".join(self.names()) or "(none)"

    def unknown(self, name: str) -> str:
        """The one-line message for a name that is not installed, naming the installed ones."""
        names = self.names()
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.what} {name!r} (installed: {', '.join(names) or 'none'}{hint})"

    def get(self, name: str) -> T:
        """The plugin called `name`, loaded on first use. Raises PluginError (unknown, or failed to load)."""
        plugin = self._loaded.get(name)
        if plugin is not None:
            return plugin
        info = self.info(name)
        try:
            obj = _load(info.value)
            plugin = self._check(name, obj)
        except Exception as exc:  # a broken third-party package must not take the engine down with a traceback
            raise PluginError(
                f"{self.what} {name!r} ({info.origin}, {info.value}) could not be loaded: {type(exc).__name__}: {exc}",
                hint="reinstall or fix that package, or remove it from the profile",
            ) from exc
        self._loaded[name] = plugin
        return plugin

    def clear(self) -> None:
        """Forget what was scanned and loaded (tests that install a plugin while running)."""
        self._installed, self._problems, self._loaded = None, [], {}


def _dist_name(ep: metadata.EntryPoint) -> str | None:
    dist = ep.dist
    return None if dist is None else dist.metadata["Name"]


def check_type(cls: type[T]) -> Callable[[str, object], T]:
    """A `check` for `Registry` that accepts instances of `cls` (an entry point may also name a class: its
    instance is made with no arguments)."""

    def check(name: str, obj: object) -> T:
        if isinstance(obj, type) and issubclass(obj, cls):
            obj = obj()
        if not isinstance(obj, cls):
            raise TypeError(f"the entry point names a {type(obj).__name__}, not a {cls.__name__}")
        return obj

    return check
