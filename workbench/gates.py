"""Gate check types as plugins: what a gate's `checks: [{type: ...}]` names, resolved through the
`workbench.gates` entry points (the generic registry is `workbench.plugins`).

A `GateCheckPlugin` gives its options' pydantic model (`config`: the check's fields besides `type` and `name`,
validated when the profile loads, so a typo is a profile error with its line) and `evaluate(options, text, ctx)`
-> `(passed, score or None, detail)`, called by the gate executor with the checked step's output and the run
context (`ctx.input`, `ctx.docs`, ...). It runs on the engine's event loop: keep it quick and free of I/O.

Built in: contains, forbids, json, length, relevance, pii (evaluated by `workbench.engine.gate.check_static`) and
judge (a model call, run by the gate executor itself: `runs_model`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from workbench.plugins import GATES as GROUP
from workbench.plugins import Registry, check_type

__all__ = ["GATES", "GateCheckPlugin", "Evaluate"]

#: (options, checked text, run context) -> (passed, score in [0, 1] or None, detail for the event)
Evaluate = Callable[[Any, str, Any], tuple[bool, float | None, str]]


class GateCheckPlugin:
    """One gate check type. `config`: its options model (None: it takes no options); `evaluate`: the check, or its
    import path "module:function" (imported on first use); `runs_model`: a check the executor runs as a model call
    (the built-in `judge`), which has no `evaluate`."""

    def __init__(
        self,
        type: str,
        *,
        config: type[BaseModel] | str | None = None,
        evaluate: Evaluate | str | None = None,
        runs_model: bool = False,
        description: str = "",
    ) -> None:
        self.type = type
        self._config = config
        self._evaluate = evaluate
        self.runs_model = runs_model
        self.description = description

    def __repr__(self) -> str:
        return f"<GateCheckPlugin {self.type!r}>"

    @property
    def config(self) -> type[BaseModel] | None:
        config = self._config
        if isinstance(config, str):
            config = self._config = _resolve(config)
        return config

    def evaluate(self, options: Any, text: str, ctx: Any) -> tuple[bool, float | None, str]:
        evaluate = self._evaluate
        if evaluate is None:
            raise TypeError(f"gate check type {self.type!r} is not evaluated by a function")
        if isinstance(evaluate, str):
            evaluate = self._evaluate = _resolve(evaluate)
        return evaluate(options, text, ctx)


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _builtin(type: str, config: str, *, runs_model: bool = False) -> GateCheckPlugin:
    return GateCheckPlugin(
        type,
        config=f"workbench.profiles.steps:{config}",
        evaluate=None if runs_model else "workbench.engine.gate:check_static",
        runs_model=runs_model,
    )


CONTAINS = _builtin("contains", "ContainsCheck")
FORBIDS = _builtin("forbids", "ForbidsCheck")
JSON = _builtin("json", "JsonCheck")
LENGTH = _builtin("length", "LengthCheck")
RELEVANCE = _builtin("relevance", "RelevanceCheck")
JUDGE = _builtin("judge", "JudgeCheck", runs_model=True)
PII = _builtin("pii", "PiiCheck")

#: every installed gate check type (built in, and from `workbench.gates` entry points)
GATES: Registry[GateCheckPlugin] = Registry(GROUP, "gate check type", check_type(GateCheckPlugin))
