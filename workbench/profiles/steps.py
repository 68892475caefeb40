"""The steps of a route, one model per `kind:` (a discriminated union), and the targets they call.

    generate   call a model: targets tried primary first, then fallbacks (retries, hedging, balancing by policy)
    route      pick a branch: by `rules`, by a `classifier` model's label, or by a `strong_weak` score
    retrieve   top-k documents from a local folder into the context (`docs`)
    gate       check an earlier step's output; on failure retry that step with feedback, fall back, fail, warn,
               or degrade (take a fallback path and end the run `degraded`)
    parallel   fan out to several targets or sub-steps at once, then merge (first, all, judge)
    transform  render a template into the context, no model call

A step without `kind:` is a `generate` step (profile v1 had no other kind). A `route` step's `branches` are
named lists of steps; after the chosen branch the route continues with the steps that follow the route step.
Prompts (`prompt`, `system`, `template`, `query`) are Jinja2 templates over the run context — `input`,
`history`, `docs`, `steps.NAME.output`, `metadata` — checked at load time (see `workbench.profiles.templates`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PrivateAttr, Tag, model_validator

from workbench.accounting.prices import NonNegativeDecimal
from workbench.errors import WorkbenchError
from workbench.profiles.policies import Policies

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$", max_length=128)]
PiiKind = Literal["email", "phone", "card", "key", "ip"]
PII_KINDS: tuple[str, ...] = ("email", "phone", "card", "key", "ip")
MAX_STEPS_GUARD = 1000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- targets ----------------------------------------------------------------------------------------------------


def _target_from_string(value: Any) -> Any:
    return {"model": value} if isinstance(value, str) else value


class Target(Policies):
    """A model alias with options of its own. Written as a plain alias (`swift`) or a mapping (`{model: swift,
    weight: 3, retry: {max_attempts: 1}}`); both forms load into this model."""

    model: Name = Field(description="a key of `models`")
    weight: float | None = Field(default=None, gt=0, le=1_000_000, description="share under `balance: weighted`")
    max_output_tokens: int | None = Field(default=None, gt=0, le=10_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)


# The JSON Schema says what the loader accepts: a plain alias or the mapping (editors validate shipped profiles,
# which write `targets: [swift, steady]`).
TargetSpec = Annotated[Target, BeforeValidator(_target_from_string, json_schema_input_type=Name | Target)]


# -- governance -------------------------------------------------------------------------------------------------


class Allow(Strict):
    """What a step may call. Empty lists allow everything; `deny_tags` wins over the rest."""

    providers: list[Name] = Field(default_factory=list)
    models: list[Name] = Field(default_factory=list)
    tags: list[Name] = Field(default_factory=list, description="a provider must carry one of these tags")
    deny_tags: list[Name] = Field(
        default_factory=list, description="providers with any of these tags are refused (e.g. `external`)"
    )


class Governed(Policies):
    """Fields every step kind shares: its name, policies, and what it is allowed to do."""

    name: Name
    description: str | None = Field(default=None, max_length=2000)
    allow: Allow | None = None
    redact: list[PiiKind] = Field(default_factory=list, description="PII kinds masked before anything is sent")
    max_tokens: int | None = Field(default=None, gt=0, le=10_000_000, description="prompt token cap for the step")
    max_cost_usd: NonNegativeDecimal | None = Field(default=None, description="cost cap for this step")


# -- generate ---------------------------------------------------------------------------------------------------


ToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="letters, digits, _ and - (both APIs)")]


class ToolDefinition(Strict):
    """A tool offered to the model: its name, what it does (the model reads this), and its arguments as a JSON
    Schema object. The model may answer with a call to it; the call is reported as a `tool_call` event."""

    name: ToolName
    description: str = Field(default="", max_length=10_000)
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}, description="JSON Schema of the arguments"
    )

    @model_validator(mode="after")
    def _object_schema(self) -> ToolDefinition:
        if self.parameters.get("type", "object") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON Schema of `type: object`")
        if not isinstance(self.parameters.get("properties", {}), dict):
            raise ValueError(f"tool {self.name!r}: parameters.properties must be a mapping")
        return self


class GenerateStep(Governed):
    """Call a model. Targets are tried primary first, then fallbacks in order."""

    kind: Literal["generate"] = "generate"
    targets: list[TargetSpec] = Field(min_length=1, max_length=64, description="primary first, then fallbacks")
    system: str | None = Field(default=None, description="system prompt (a template)")
    prompt: str | None = Field(default=None, description="user prompt template; default: the previous output")
    history: bool = Field(default=True, description="send the conversation so far (truncated to the window)")
    max_output_tokens: int | None = Field(default=None, gt=0, le=10_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    tools: list[ToolDefinition] = Field(default_factory=list, max_length=128, description="tools offered to the model")
    tool_choice: Literal["auto", "none", "required"] | ToolName | None = Field(
        default=None, description="auto, none, required, or the name of the one tool to call (default: auto)"
    )
    parallel_tool_calls: bool | None = Field(default=None, description="may the model call several tools at once")
    unsupported_content: Literal["report", "fail"] = Field(
        default="report",
        description="content of a kind the adapter does not know: report it (an event; the rest of the answer is"
        " kept) or fail the attempt as `malformed` (the next target may answer)",
    )

    @model_validator(mode="after")
    def _tool_choice_names_a_tool(self) -> GenerateStep:
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise ValueError(
                f"tools: a name is given twice ({', '.join(sorted(n for n in set(names) if names.count(n) > 1))})"
            )
        choice = self.tool_choice
        if (choice is not None or self.parallel_tool_calls is not None) and not names:
            raise ValueError("tool_choice and parallel_tool_calls need `tools` on the step")
        if choice is not None and choice not in ("auto", "none", "required") and choice not in names:
            raise ValueError(f"tool_choice {choice!r} is not one of the step's tools ({', '.join(names) or 'none'})")
        return self


# -- route ------------------------------------------------------------------------------------------------------


class RuleMatch(Strict):
    """Conditions of a rule; all that are given must hold."""

    regex: str | None = Field(default=None, max_length=2000, description="Python regex searched in the input")
    keywords: list[str] = Field(default_factory=list, description="any of these words (case-insensitive)")
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    metadata: dict[str, str | list[str]] = Field(
        default_factory=dict, description="request metadata field equals (or is one of) the value"
    )


class Rule(Strict):
    when: RuleMatch
    branch: Name
    reason: str | None = Field(default=None, max_length=500, description="words for the decision event")


class Category(Strict):
    description: str = Field(min_length=1, max_length=2000)
    branch: Name | None = Field(default=None, description="default: the branch named like the category")


class Classifier(Strict):
    model: Name = Field(description="a cheap model that labels the request")
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    instructions: str | None = Field(default=None, description="extra instructions for the classifier (template)")


class StrongWeak(Strict):
    """RouteLLM-style: a difficulty score in [0, 1]; at or above `threshold` goes to `strong`."""

    threshold: float = Field(ge=0, le=1)
    scorer: Literal["features", "classifier"] = "features"
    model: Name | None = Field(default=None, description="classifier model when scorer is `classifier`")
    strong: Name
    weak: Name


class RouteStep(Governed):
    """Pick a branch. Exactly one of `rules`, `classifier` (+ `categories`) or `strong_weak`."""

    kind: Literal["route"]
    rules: list[Rule] | None = None
    classifier: Classifier | None = None
    categories: dict[Name, Category] | None = None
    strong_weak: StrongWeak | None = None
    default: Name = Field(description="the branch taken when nothing matches or the classifier fails")
    branches: dict[Name, list[Step]] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_mode(self) -> RouteStep:
        modes = [m for m in ("rules", "classifier", "strong_weak") if getattr(self, m) is not None]
        if len(modes) != 1:
            given = f"; this one has {' and '.join(f'`{m}`' for m in modes)}" if modes else ""
            raise ValueError(f"a route step takes exactly one of `rules`, `classifier` or `strong_weak`{given}")
        if self.classifier is not None and not self.categories:
            raise ValueError("a `classifier` route step needs `categories` (name: {description, branch})")
        # Each reference where it is written ("@.rules.0.branch: ..." is relative to this step).
        wanted: list[tuple[str, str]] = [("default", self.default)]
        for i, rule in enumerate(self.rules or []):
            wanted.append((f"rules.{i}.branch", rule.branch))
        for cname, cat in (self.categories or {}).items():
            wanted.append((f"categories.{cname}.branch" if cat.branch else f"categories.{cname}", cat.branch or cname))
        if self.strong_weak is not None:
            wanted += [("strong_weak.strong", self.strong_weak.strong), ("strong_weak.weak", self.strong_weak.weak)]
        defined = ", ".join(self.branches)
        problems = [
            f"@.{at}: unknown branch {name!r} (defined: {defined})" for at, name in wanted if name not in self.branches
        ]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def mode(self) -> str:
        return "rules" if self.rules is not None else "classifier" if self.classifier is not None else "strong_weak"


# -- retrieve ---------------------------------------------------------------------------------------------------


class RetrieveStep(Governed):
    """Top-k documents from a local folder (Markdown, text) by BM25 over SQLite FTS5, into `docs`."""

    kind: Literal["retrieve"]
    corpus: str = Field(min_length=1, description="folder of documents, relative to the profile file")
    query: str = Field(default="{{ input }}", description="template of the search query")
    top_k: int = Field(default=4, ge=1, le=100)
    chunk_tokens: int = Field(default=400, ge=20, le=100_000, description="long files are chunked to this bound")
    min_score: float | None = Field(default=None, description="drop documents scoring below this")


# -- gate -------------------------------------------------------------------------------------------------------


class _Check(Strict):
    name: str | None = Field(default=None, max_length=200, description="label in events (default: the type)")


class ContainsCheck(_Check):
    type: Literal["contains"]
    text: str | None = None
    regex: str | None = None
    ignore_case: bool = True


class ForbidsCheck(_Check):
    type: Literal["forbids"]
    text: str | None = None
    regex: str | None = None
    ignore_case: bool = True


class JsonCheck(_Check):
    type: Literal["json"]
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema", description="JSON Schema to validate")


class LengthCheck(_Check):
    type: Literal["length"]
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=0)
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)


class RelevanceCheck(_Check):
    type: Literal["relevance"]
    threshold: float = Field(ge=0, le=1, description="lexical score of the documents against the query")


class JudgeCheck(_Check):
    type: Literal["judge"]
    model: Name
    rubric: str = Field(min_length=1)
    threshold: float = Field(default=0.7, ge=0, le=1)


def _every_pii_kind() -> list[PiiKind]:
    return ["email", "phone", "card", "key", "ip"]


class PiiCheck(_Check):
    type: Literal["pii"]
    kinds: list[PiiKind] = Field(default_factory=lambda: _every_pii_kind())


_BUILTIN_CHECKS = ("contains", "forbids", "json", "length", "relevance", "judge", "pii")


class PluginCheck(_Check):
    """A check type from an installed plugin (`workbench.gates` entry points, see workbench/gates.py): its other
    fields are the plugin's options, validated by the plugin's `config` model when the profile loads."""

    model_config = ConfigDict(extra="allow")

    # (not a built-in type: in the published JSON Schema, a check matches exactly one member of the union)
    type: str = Field(json_schema_extra={"not": {"enum": list(_BUILTIN_CHECKS)}})
    _options: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _plugin_options(self) -> PluginCheck:
        from pydantic import ValidationError

        from workbench.gates import GATES

        try:
            plugin = GATES.get(self.type)
        except WorkbenchError as exc:
            raise ValueError(exc.message) from None
        options = dict(self.model_extra or {})
        if plugin.config is None:
            if options:
                raise ValueError(f"check type {self.type!r} takes no options (got {', '.join(options)})")
            return self
        try:
            self._options = plugin.config.model_validate(options)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(part) for part in err["loc"]) or "(options)"
            raise ValueError(f"check type {self.type!r}, option {where}: {err['msg']}") from None
        return self

    @property
    def options(self) -> Any:
        """The plugin's validated options (its `config` model), or this check itself when it takes none."""
        return self if self._options is None else self._options


def _check_type(value: Any) -> str | None:
    """The union member for a check: its built-in type, `plugin` for an installed plugin's, else the type itself
    (not a member: an "unknown check type" error naming the installed ones)."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    if kind in _BUILTIN_CHECKS:
        return kind
    from workbench.gates import GATES

    return "plugin" if kind in GATES else kind


Check = Annotated[
    Annotated[ContainsCheck, Tag("contains")]
    | Annotated[ForbidsCheck, Tag("forbids")]
    | Annotated[JsonCheck, Tag("json")]
    | Annotated[LengthCheck, Tag("length")]
    | Annotated[RelevanceCheck, Tag("relevance")]
    | Annotated[JudgeCheck, Tag("judge")]
    | Annotated[PiiCheck, Tag("pii")]
    | Annotated[PluginCheck, Tag("plugin")],
    Discriminator(_check_type, custom_error_type="check_type", custom_error_message="unknown check type"),
]


class Degrade(Strict):
    """A gate's fallback path (`on_fail: degrade`): the run still delivers an answer and ends `degraded`."""

    branch: Name | None = Field(
        default=None,
        description="a branch of the route step this gate sits in: its steps replace the rest of the gate's branch"
        " (default: go on with the steps after the gate)",
    )
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="why the run is degraded, in words: the decision's and the run's reason (default: the checks)",
    )


class GateStep(Governed):
    """Check an earlier step's output (default: the step just before). On failure apply `on_fail`."""

    kind: Literal["gate"]
    of: Name | None = Field(default=None, description="the step whose output is checked (default: the previous)")
    checks: list[Check] = Field(min_length=1)
    on_fail: Literal["retry", "fallback", "fail", "warn", "degrade"] = Field(
        default="fail",
        description="retry the checked step with feedback, fall back to its next target, fail, warn, or degrade:"
        " take the fallback path in `degrade` and end the run `degraded`",
    )
    max_retries: int = Field(default=1, ge=0, le=5)
    feedback: str | None = Field(default=None, description="template appended on retry (default: the reasons)")
    degrade: Degrade | None = Field(default=None, description="for `on_fail: degrade`: where to go and why")

    @model_validator(mode="after")
    def _degrade_needs_its_policy(self) -> GateStep:
        if self.degrade is not None and self.on_fail != "degrade":
            raise ValueError(
                f"`degrade` is only used with `on_fail: degrade` (this gate has `on_fail: {self.on_fail}`)"
            )
        return self


# -- parallel ---------------------------------------------------------------------------------------------------


class ParallelStep(Governed):
    """Fan out to several targets (same prompt) or sub-steps at once, then merge."""

    kind: Literal["parallel"]
    targets: list[TargetSpec] | None = Field(default=None, max_length=16)
    steps: list[Step] | None = Field(default=None, max_length=16)
    system: str | None = None
    prompt: str | None = None
    merge: Literal["first", "all", "judge"] = "all"
    judge: JudgeCheck | None = Field(default=None, description="for merge `judge`: picks the best child")

    @model_validator(mode="after")
    def _children(self) -> ParallelStep:
        if (self.targets is None) == (self.steps is None):
            raise ValueError("a parallel step takes exactly one of `targets` or `steps`")
        if self.merge == "judge" and self.judge is None:
            raise ValueError("merge `judge` needs a `judge` ({model, rubric})")
        return self


# -- transform --------------------------------------------------------------------------------------------------


class TransformStep(Governed):
    """Render a template into the context (its output is the rendered text); no model is called."""

    kind: Literal["transform"]
    template: str = Field(min_length=1)


def _step_kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("kind", "generate")
        return kind if isinstance(kind, str) else "generate"
    return str(getattr(value, "kind", "generate"))


Step = Annotated[
    Annotated[GenerateStep, Tag("generate")]
    | Annotated[RouteStep, Tag("route")]
    | Annotated[RetrieveStep, Tag("retrieve")]
    | Annotated[GateStep, Tag("gate")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[TransformStep, Tag("transform")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="unknown step kind (expected generate, route, retrieve, gate, parallel or transform)",
    ),
]
StepModel = GenerateStep | RouteStep | RetrieveStep | GateStep | ParallelStep | TransformStep
STEP_KINDS: tuple[str, ...] = ("generate", "route", "retrieve", "gate", "parallel", "transform")

RouteStep.model_rebuild()
ParallelStep.model_rebuild()


def walk_steps(steps: list[StepModel], path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    """Every step in a list, depth first, with its path relative to the list (`(0,)`, `(1, 'branches', 'a', 0)`)."""
    out: list[tuple[tuple[str | int, ...], Any]] = []
    for i, step in enumerate(steps):
        here = (*path, i)
        out.append((here, step))
        if isinstance(step, RouteStep):
            for bname, branch in step.branches.items():
                out.extend(walk_steps(branch, (*here, "branches", bname)))
        elif isinstance(step, ParallelStep) and step.steps:
            out.extend(walk_steps(step.steps, (*here, "steps")))
    return out


def enclosing_branches(path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """(route step's path, branch name) of every branch that holds the step at `path`, innermost first. Stops at
    a parallel step's sub-steps: a branch outside a fan-out is not one of its children's paths."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    holder = path[:-1]  # the list the step is in
    while len(holder) >= 3 and holder[-2] == "branches":
        out.append((holder[:-2], str(holder[-1])))
        holder = holder[:-3]
    return out


def degrade_branch(steps: list[Any], path: tuple[str | int, ...], branch: str) -> tuple[str | int, ...] | None:
    """The path of the route step whose branch `branch` a gate at `path` falls back to: the innermost enclosing
    route step that has such a branch, other than the one the gate is in. None when there is none."""
    for owner_path, holding in enclosing_branches(path):
        owner = step_at(steps, owner_path)
        if isinstance(owner, RouteStep) and branch in owner.branches and branch != holding:
            return owner_path
    return None


def step_at(steps: list[Any], path: tuple[str | int, ...]) -> Any:
    """The step at a path relative to `steps` (as `walk_steps` gives them)."""
    node: Any = steps
    for part in path:
        node = node[part] if isinstance(part, int) or isinstance(node, dict) else getattr(node, part)
    return node


def step_targets(step: Any) -> list[str]:
    """Every model alias a step may call (targets, classifier, judge), in order."""
    names: list[str] = []
    if isinstance(step, GenerateStep | ParallelStep) and step.targets:
        names.extend(t.model for t in step.targets)
    if isinstance(step, RouteStep):
        if step.classifier is not None:
            names.append(step.classifier.model)
        if step.strong_weak is not None and step.strong_weak.model:
            names.append(step.strong_weak.model)
    if isinstance(step, GateStep):
        names.extend(c.model for c in step.checks if isinstance(c, JudgeCheck))
    if isinstance(step, ParallelStep) and step.judge is not None:
        names.append(step.judge.model)
    return names
