"""The pydantic models of a profile (format v2): providers, models (with prices and limits), routes and steps.

A profile is a YAML file (see profiles/demo.yaml). It names environment variables for keys, never keys.
`Profile.model_json_schema()` is what `workbench profile schema` prints for editors.

v2 adds step kinds (`workbench.profiles.steps`), per-target options, policies inherited profile -> route -> step
-> target (`workbench.profiles.policies`, resolved by `workbench.profiles.resolve`), templates over a run
context (`workbench.profiles.templates`) and governance (provider `tags`, step `allow`/`redact`/caps). A v1 file
(`version: 1`, or no version) still loads: its shape is a subset of v2 (see `workbench.profiles.upgrade`).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from workbench.accounting.prices import NonNegativeDecimal, Price
from workbench.errors import WorkbenchError
from workbench.profiles.patterns import check_pattern
from workbench.profiles.policies import Policies
from workbench.profiles.steps import (
    GateStep,
    GenerateStep,
    Name,
    ParallelStep,
    RouteStep,
    Step,
    StepModel,
    Strict,
    degrade_branch,
    enclosing_branches,
    step_at,
    step_targets,
    walk_steps,
)
from workbench.profiles.templates import check_template
from workbench.providers.plugin import PROVIDERS, ProviderPlugin
from workbench.sim.behaviour import SimBehaviour

#: a provider kind: a name the `workbench.providers` plugin registry resolves (workbench/providers/plugin.py)
ProviderKind = str
#: a wire format: the built-in ones are `openai` and `anthropic`; a plugin may speak its own
WireFormat = str

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: an HTTP header name is an RFC 7230 token: no spaces, no separators such as ( ) , / : ; < = > ? @ [ ] { }
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: a header value: visible ASCII, spaces and tabs (RFC 7230 field-value; no other control characters)
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")


def _installed_names(schema: dict[str, Any], names: list[str]) -> None:
    """A string field whose known values are listed for editors (completion) without rejecting others: a plugin
    installed where the profile runs may add names this schema was printed without."""
    schema["anyOf"] = [{"enum": names}, {"type": "string"}]
    schema.pop("type", None)
    schema["examples"] = names


class Timeouts(Strict):
    """Seconds. `connect`: TCP/TLS; `first_token`: request sent -> first content token; `idle`: between two
    chunks of a stream; `total`: the whole attempt. (A provider's own timeouts; policies may override them.)"""

    connect: float = Field(default=5.0, gt=0, le=3600)
    first_token: float = Field(default=30.0, gt=0, le=3600)
    idle: float = Field(default=30.0, gt=0, le=3600)
    total: float = Field(default=300.0, gt=0, le=3600)


class Provider(Strict):
    """An API endpoint: its wire format, where it is, and which environment variable holds its key."""

    kind: ProviderKind = Field(
        description="the provider kind: a wire format family (`openai`, `anthropic`), `sim` (the embedded offline"
        " simulator), or a kind an installed plugin adds (`workbench.providers` entry points)",
        json_schema_extra=lambda schema: _installed_names(schema, PROVIDERS.names()),
    )
    wire: WireFormat | None = Field(
        default=None,
        description="for a kind that speaks several wire formats (`sim`): which one (default: the kind's first)",
        json_schema_extra={"examples": ["openai", "anthropic"]},
    )
    base_url: str | None = Field(default=None, description="API root, e.g. https://api.openai.com/v1")
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="NAME of the environment variable holding the key (never the key itself)",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra headers; values may reference env vars as ${NAME}"
    )
    timeouts: Timeouts = Field(default_factory=Timeouts)
    stream_usage: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="ask for usage in streams (stream_options.include_usage); auto retries without it if refused",
    )
    max_connections: int = Field(default=100, ge=1, le=10_000, description="connection pool size")
    tags: list[Name] = Field(
        default_factory=list, description="labels for governance, e.g. `external` (data leaves), `eu` (residency)"
    )

    @property
    def plugin(self) -> ProviderPlugin:
        """The plugin of this provider's kind (validated when the profile loaded)."""
        return PROVIDERS.get(self.kind)

    @property
    def wire_format(self) -> WireFormat:
        return self.plugin.wire_of(self)

    @field_validator("kind")
    @classmethod
    def _installed_kind(cls, kind: str) -> str:
        if kind not in PROVIDERS:
            raise ValueError(PROVIDERS.unknown(kind))
        try:
            PROVIDERS.get(kind)
        except WorkbenchError as exc:  # installed but broken: say so here, not at the first call
            raise ValueError(exc.message) from None
        return kind

    @field_validator("wire")
    @classmethod
    def _spoken_wire(cls, wire: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if wire is None or kind is None:  # (an unknown kind is its own error)
            return wire
        wires = PROVIDERS.get(kind).wires
        if len(wires) < 2:
            raise ValueError(f"`wire` is only for kinds that speak several wire formats (`{kind}` speaks {wires[0]})")
        if wire not in wires:
            close = difflib.get_close_matches(wire, wires, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"expected one of: {', '.join(wires)}, got {wire!r}{hint}")
        return wire

    @model_validator(mode="after")
    def _kind_options(self) -> Provider:
        if not self.plugin.takes_base_url and self.base_url is not None:
            raise ValueError(
                f"a provider of kind `{self.kind}` serves itself and takes no `base_url`"
                " (set `kind: openai` or `kind: anthropic` to call a server at that URL)"
            )
        return self

    @field_validator("base_url")
    @classmethod
    def _a_plain_http_url(cls, url: str | None) -> str | None:
        # Never echo the URL back: it may hold a password (https://user:secret@host).
        if url is None:
            return url
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            raise ValueError("not a valid URL (expected e.g. https://api.openai.com/v1)") from None
        if "@" in parts.netloc:
            raise ValueError(
                "a base_url must not carry credentials (user:password@...): put the key in an environment variable"
                " and name it in `api_key_env` (the URL is not shown here)"
            )
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError("expected an http:// or https:// URL with a host, e.g. https://api.openai.com/v1")
        return url

    @field_validator("headers")
    @classmethod
    def _no_literal_secrets(cls, headers: dict[str, str]) -> dict[str, str]:
        for key, value in headers.items():
            for label, text in (("name", key), ("value", value)):
                try:
                    text.encode("ascii")
                except UnicodeEncodeError:
                    raise ValueError(
                        f"header {key!r}: its {label} has characters HTTP headers cannot carry (ASCII only)"
                    ) from None
                if any(ch in text for ch in "\r\n\0"):
                    raise ValueError(f"header {key!r}: its {label} contains a line break or NUL")
            if not _HEADER_NAME.match(key):
                raise ValueError(
                    f"header {key!r}: not a valid HTTP header name (expected letters, digits and !#$%&'*+-.^_`|~;"
                    " no spaces or separators)"
                )
            if not _HEADER_VALUE.match(value):
                raise ValueError(f"header {key!r}: its value contains a control character (expected printable text)")
            if key.lower() in {"authorization", "x-api-key", "api-key"} and not _ENV_REF.search(value):
                raise ValueError(f"header {key!r} must reference an environment variable as ${{NAME}}, not hold a key")
        return headers

    def env_refs(self) -> set[str]:
        refs = {self.api_key_env} if self.api_key_env else set()
        for value in self.headers.values():
            refs.update(_ENV_REF.findall(value))
        return refs


class Model(Strict):
    """A model alias: which provider serves it, its wire id, limits, prices and (for `sim`) simulator dials."""

    provider: Name = Field(description="a key of `providers`")
    model: str = Field(min_length=1, description="the provider's model id on the wire")
    context_window: int = Field(default=128_000, gt=0, le=100_000_000)
    max_output_tokens: int = Field(default=4096, gt=0, le=10_000_000)
    reasoning: bool = Field(default=False, description="a reasoning model: longer first-token timeout by default")
    free: bool = Field(default=False, description="declared free: no price needed, never blocked by a cost cap")
    tokenizer: Literal["o200k_base", "cl100k_base"] | None = Field(
        default=None, description="for local estimates; default guessed from the model id"
    )
    prices: list[Price] = Field(default_factory=list, description="versioned price entries, USD per 1M tokens")
    sim: SimBehaviour | None = Field(default=None, description="simulator dials (providers of kind `sim` only)")


def longest_run(steps: list[Any]) -> int:
    """The most steps one run of `steps` can execute, as the engine counts them against `max_steps`: every step
    taken, plus the longest branch of each route step (a parallel step's children and a gate's re-runs are
    not counted)."""
    total = 0
    for step in steps:
        total += 1
        if isinstance(step, RouteStep):
            total += max((longest_run(branch) for branch in step.branches.values()), default=0)
    return total


class Route(Policies):
    """A named orchestration: steps run in order (route steps branch), with policies for every step in it."""

    description: str | None = Field(default=None, max_length=2000)
    steps: list[Step] = Field(min_length=1, max_length=200)
    max_cost_usd: NonNegativeDecimal | None = Field(default=None, description="cost cap for a whole run")
    max_steps: int = Field(default=50, ge=1, le=1000, description="guard: most steps one run may execute")
    max_depth: int = Field(default=8, ge=1, le=32, description="guard: deepest branch nesting")

    @model_validator(mode="after")
    def _unique_steps(self) -> Route:
        seen: set[str] = set()
        for _, step in walk_steps(self.steps):
            if step.name in seen:
                raise ValueError(f"step name {step.name!r} is used twice")
            seen.add(step.name)
        return self

    def all_steps(self) -> list[tuple[tuple[str | int, ...], StepModel]]:
        """Every step, branches included, with its path under `steps`."""
        return walk_steps(self.steps)


def _degrade_problems(route: Route, path: tuple[str | int, ...], branch: str, at: str) -> list[str]:
    """A gate's `degrade.branch` must be another branch of a route step the gate sits in (innermost first)."""
    if degrade_branch(route.steps, path, branch) is not None:
        return []
    around = enclosing_branches(path)
    if not around:
        return [
            f"{at}.degrade.branch: this gate is not inside a route step's branch, so it has no branch"
            f" {branch!r} to fall back to (leave `branch` out to go on with the next step)"
        ]
    owner_path, holding = around[0]
    owner = step_at(route.steps, owner_path)
    if branch == holding and len(around) == 1:
        return [f"{at}.degrade.branch: {branch!r} is the branch this gate is in: falling back to it would loop"]
    others = ", ".join(b for b in owner.branches if b != holding) or "none"
    return [f"{at}.degrade.branch: unknown branch {branch!r} (other branches of route step {owner.name!r}: {others})"]


class SimSettings(Strict):
    """Settings of the embedded simulator shared by every `sim` provider."""

    seed: int = Field(default=7, description="the simulator's seed: same seed, same answers and faults")
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")


#: runs in flight per engine when a profile says nothing: measured with benchmarks/load.py (issue 12 item 9) on a
#: 2-core machine with the simulator in process. Over httpcore, 32 was the most that never fired a timer late;
#: over the aiohttp transport the client needs ~1.1 ms of CPU a run and even no limit at c=100 failed nothing, so
#: 64 keeps c=50 unqueued (the throughput benchmark) and still bounds what a burst can start at once
DEFAULT_MAX_CONCURRENT_RUNS = 64


class EngineSettings(Strict):
    """Settings of the engine process itself (not of any route): how much work it takes on at once."""

    max_concurrent_runs: int = Field(
        default=DEFAULT_MAX_CONCURRENT_RUNS,
        ge=1,
        le=10_000,
        description="runs in flight at once; more wait in a FIFO queue (a `queue` event) before their first call",
    )


class Profile(Strict):
    """A workbench profile: providers, models (with prices and limits) and the routes that use them."""

    version: Literal[1, 2] = Field(default=2, description="format version; 1 is read as a subset of 2")
    name: str = Field(default="profile", min_length=1)
    description: str | None = None
    default_route: Name | None = Field(default=None, description="route used when none is named (default: first)")
    sim: SimSettings = Field(default_factory=SimSettings)
    providers: dict[Name, Provider] = Field(min_length=1)
    models: dict[Name, Model] = Field(min_length=1)
    routes: dict[Name, Route] = Field(min_length=1)
    policies: Policies = Field(
        default_factory=Policies, description="profile-wide policies: routes, steps and targets override them"
    )
    engine: EngineSettings = Field(default_factory=EngineSettings)
    # resolved policies per (route, step path, target index): see workbench.profiles.resolve
    _policy_cache: dict[Any, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_references(self) -> Profile:
        # Errors found here carry their location in the message ("@models.x.provider: ..."), one per line, all
        # of them at once; the loader maps each path back to the file's line.
        problems: list[str] = []
        for alias, model in self.models.items():
            if model.provider not in self.providers:
                problems.append(
                    f"@models.{alias}.provider: unknown provider {model.provider!r}"
                    f" (defined: {', '.join(self.providers)})"
                )
            elif model.sim is not None and self.providers[model.provider].kind != "sim":
                problems.append(f"@models.{alias}.sim: only models of a `sim` provider take simulator dials")
        for rname, route in self.routes.items():
            problems.extend(self._route_problems(rname, route))
            longest = longest_run(route.steps)
            if longest > route.max_steps:
                problems.append(
                    f"@routes.{rname}.max_steps: a run of this route can execute {longest} steps (its longest path,"
                    f" branches included), more than max_steps {route.max_steps}; such a run would stop there after"
                    f" spending (raise max_steps to at least {longest}, or shorten the route)"
                )
        if self.default_route is not None and self.default_route not in self.routes:
            problems.append(f"@default_route: unknown route {self.default_route!r} (defined: {', '.join(self.routes)})")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _route_problems(self, rname: str, route: Route) -> list[str]:
        problems: list[str] = []
        names = [step.name for _, step in route.all_steps()]
        known_models = ", ".join(self.models)
        for path, step in route.all_steps():
            at = f"@routes.{rname}.steps." + ".".join(str(p) for p in path)
            if isinstance(step, GenerateStep | ParallelStep) and step.targets:
                for j, target in enumerate(step.targets):
                    if target.model not in self.models:
                        problems.append(
                            f"{at}.targets.{j}.model: unknown model {target.model!r} (defined: {known_models})"
                        )
            for ref in step_targets(step):
                if ref not in self.models and not (
                    isinstance(step, GenerateStep | ParallelStep) and any(t.model == ref for t in step.targets or [])
                ):
                    problems.append(f"{at}: unknown model {ref!r} (defined: {known_models})")
            for field_name in ("system", "prompt", "template", "query", "feedback"):
                text = getattr(step, field_name, None)
                if isinstance(text, str):
                    what = check_template(text, names)
                    if what:
                        problems.append(f"{at}.{field_name}: {what}")
            patterns: list[tuple[str, Any, Any]] = []
            if isinstance(step, RouteStep):
                patterns += [(f"rules.{i}.when.regex", r.when.regex, True) for i, r in enumerate(step.rules or [])]
            if isinstance(step, GateStep):
                patterns += [
                    (f"checks.{i}.regex", getattr(c, "regex", None), getattr(c, "ignore_case", True))
                    for i, c in enumerate(step.checks)
                ]
            for where_at, pattern, ignore_case in patterns:
                what = check_pattern(pattern, ignore_case) if isinstance(pattern, str) else None
                if what:
                    problems.append(f"{at}.{where_at}: {what}")
            if isinstance(step, GateStep) and step.of is not None and step.of not in names:
                problems.append(f"{at}.of: unknown step {step.of!r} (steps: {', '.join(names)})")
            if isinstance(step, GateStep) and step.degrade is not None and step.degrade.branch is not None:
                problems.extend(_degrade_problems(route, path, step.degrade.branch, at))
            if isinstance(step, GenerateStep):
                hedged = [(f"{at}.hedge", step.hedge)] + [
                    (f"{at}.targets.{j}.hedge", t.hedge) for j, t in enumerate(step.targets)
                ]
                for where_at, hedge in hedged:
                    if hedge is not None and hedge.after_ms is not None and len(step.targets) < 2:
                        problems.append(
                            f"{where_at}.after_ms: a hedge needs a second target to start in parallel"
                            f" (this step has {len(step.targets)})"
                        )
            fast = step.budget.fast_fallback if step.budget else None
            if fast is not None and fast not in self.models:
                problems.append(f"{at}.budget.fast_fallback: unknown model {fast!r} (defined: {known_models})")
            if step.allow is not None:
                for j, prov in enumerate(step.allow.providers):
                    if prov not in self.providers:
                        problems.append(f"{at}.allow.providers.{j}: unknown provider {prov!r}")
                for j, alias in enumerate(step.allow.models):
                    if alias not in self.models:
                        problems.append(f"{at}.allow.models.{j}: unknown model {alias!r}")
            if isinstance(step, RouteStep) and len(path) // 3 + 1 > route.max_depth:
                problems.append(f"{at}: branches nest deeper than max_depth {route.max_depth}")
        return problems

    def route(self, name: str | None = None) -> tuple[str, Route]:
        key = name or self.default_route or next(iter(self.routes))
        if key not in self.routes:
            raise KeyError(key)
        return key, self.routes[key]
