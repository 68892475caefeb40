"""Helpers the semantic executors share: calling a model through `generate_step` on the executor's behalf (a
classifier, a judge, a parallel child, a gate's retry), and building the hops that enclose their work.

A model call here is a `GenerateStep` built on the fly and run by the governed generate executor as a black
box, under a parent hop; its attempt hops are tagged with the call's `role` ("classifier", "judge", "child").
Text that must reach the model verbatim (a request may contain `{{`) is passed as the previous output, never as
a template.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from workbench.engine.context import RunContext, StepCall, StepResult
from workbench.engine.events import Event, HopFinished, HopKind, HopStarted, HopStatus
from workbench.profiles.steps import GenerateStep, Target
from workbench.profiles.templates import is_template


def raw(text: str) -> str:
    """`text` as a template that renders to itself."""
    if not is_template(text):
        return text
    return "{% raw %}" + text.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}") + "{% endraw %}"


def model_step(
    name: str,
    alias: str,
    *,
    system: str | None,
    parent: Any = None,
    max_output_tokens: int | None = None,
    temperature: float | None = 0.0,
    history: bool = False,
) -> GenerateStep:
    """A GenerateStep calling one model, carrying the parent step's governance (allow, redact, caps)."""
    fields: dict[str, Any] = {}
    if parent is not None:
        for key in ("allow", "redact", "max_tokens", "max_cost_usd"):
            value = getattr(parent, key, None)
            if value:
                fields[key] = value
    return GenerateStep(
        name=name,
        targets=[Target(model=alias)],
        system=raw(system) if system else None,
        history=history,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        **fields,
    )


async def run_model(
    call: StepCall,
    step: GenerateStep,
    user_text: str,
    *,
    parent_id: str,
    role: str,
    ctx: RunContext | None = None,
    holder: list[StepResult],
) -> AsyncIterator[Event]:
    """Run `step` with `user_text` as its prompt under `parent_id`; tag its attempts with `role`; append the
    result to `holder`."""
    from workbench.engine.governance import governed_generate

    base = ctx or call.ctx
    sub_ctx = replace(base, last_output=user_text)
    sub = StepCall(
        engine=call.engine,
        state=call.state,
        ctx=sub_ctx,
        route="",  # built steps have no place in the profile: provider defaults apply
        step=step,
        path=call.path,
        cancel=call.cancel,
        parent_id=parent_id,
        extra_headers=call.extra_headers,
    )
    async for event in governed_generate(sub):
        if isinstance(event, HopStarted | HopFinished) and event.role is None:
            event.role = role if event.kind == HopKind.ATTEMPT else event.role
        yield event
    holder.append(sub.result or StepResult(name=step.name, kind="generate", status="error", error="no result"))


class Hop:
    """The hop a non-generate step opens around its work."""

    def __init__(self, call: StepCall, kind: HopKind, name: str | None = None) -> None:
        self.call = call
        self.kind = kind
        self.name = name or call.step.name
        self.id = call.state.next_hop_id()
        self._t0 = time.monotonic()

    def started(self) -> HopStarted:
        return HopStarted(
            run_id=self.call.state.run_id, hop_id=self.id, parent_id=self.call.parent_id, kind=self.kind, name=self.name
        )

    def finished(self, status: HopStatus | str = HopStatus.OK, **fields: Any) -> HopFinished:
        return HopFinished(
            run_id=self.call.state.run_id,
            hop_id=self.id,
            parent_id=self.call.parent_id,
            kind=self.kind,
            name=self.name,
            status=HopStatus(status),
            latency_ms=(time.monotonic() - self._t0) * 1000.0,
            **fields,
        )
