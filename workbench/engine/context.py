"""What flows through a run: the run context (input, history, documents, each step's result, metadata) and the
call object a step executor receives.

`RunContext.template_vars()` is the mapping prompt templates render over (see `workbench.profiles.templates`):
`input`, `history`, `docs`, `steps.NAME.output` (plus `label`, `score`, `branch` for routing steps), `metadata`,
`feedback`. `last_output` is what a `generate` step without a `prompt` template sends: the previous step's output
(the request itself for the first step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from workbench.engine.cancel import CancelToken
    from workbench.engine.run import Engine
    from workbench.engine.step import RunState


@dataclass(slots=True)
class StepResult:
    """What one step produced, by name in `RunContext.steps` (templates read it as `steps.NAME.*`)."""

    name: str
    kind: str
    status: str = "ok"  # ok | error | cancelled | degraded | skipped
    output: str = ""
    error: str | None = None
    reason: str | None = None
    branch: str | None = None  # route steps: the branch chosen
    label: str | None = None  # route steps: the classifier's label
    score: float | None = None  # route steps: confidence / difficulty; gates: their score
    data: dict[str, Any] = field(default_factory=dict)
    # a gate that took its fallback path (`on_fail: degrade`): why the run will end `degraded`, and the branch
    # that replaces the rest of the gate's own ((route step's path, branch name); None: go on with the next step)
    degraded: str | None = None
    jump: tuple[tuple[str | int, ...], str] | None = None

    def __getitem__(self, key: str) -> Any:  # templates may write steps.x["output"]
        return getattr(self, key)


@dataclass(slots=True)
class RunContext:
    input: str
    history: list[dict[str, str]] = field(default_factory=list)  # earlier turns: {role, content}
    docs: list[dict[str, Any]] = field(default_factory=list)  # retrieved: {id, title, text, score, source}
    steps: dict[str, StepResult] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    feedback: str | None = None  # a failed gate's reasons, for the retried step's template
    last_output: str = ""
    executed: int = 0  # steps executed so far (the step-count guard)
    fell_back: set[tuple[tuple[str | int, ...], str]] = field(default_factory=set)  # branches gates fell back to

    def __post_init__(self) -> None:
        if not self.last_output:
            self.last_output = self.input

    def template_vars(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "history": self.history,
            "docs": self.docs,
            "steps": self.steps,
            "metadata": self.metadata,
            "feedback": self.feedback or "",
        }


@dataclass(slots=True)
class StepCall:
    """Everything a step executor needs, and where it leaves its result (`result`)."""

    engine: Engine
    state: RunState
    ctx: RunContext
    route: str
    step: Any  # a StepModel from workbench.profiles.steps
    path: tuple[str | int, ...]  # the step's place under the route's `steps` (for policies and messages)
    cancel: CancelToken
    parent_id: str | None = None
    extra_headers: Mapping[str, str] | None = None
    result: StepResult | None = None
    # a generate step's targets that may be called, as indices into `step.targets` (governance refused the
    # rest); None: all. Indices stay the profile's own, so policies and `target_index` refer to the right target.
    allowed_targets: tuple[int, ...] | None = None
