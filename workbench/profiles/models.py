"""The pydantic models of a profile: providers, models (with prices and limits), routes and their steps.

A profile is a YAML file (see profiles/demo.yaml). It names environment variables for keys, never keys.
`Profile.model_json_schema()` is what `workbench profile schema` prints for editors.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workbench.accounting.prices import NonNegativeDecimal, Price
from workbench.sim.behaviour import SimBehaviour

ProviderKind = Literal["openai", "anthropic", "sim"]
WireFormat = Literal["openai", "anthropic"]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$", max_length=128)]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Timeouts(Strict):
    """Seconds. `connect`: TCP/TLS; `first_token`: request sent -> first content token; `idle`: between two
    chunks of a stream; `total`: the whole attempt."""

    connect: float = Field(default=5.0, gt=0)
    first_token: float = Field(default=30.0, gt=0)
    idle: float = Field(default=30.0, gt=0)
    total: float = Field(default=300.0, gt=0)


class Provider(Strict):
    """An API endpoint: its wire format, where it is, and which environment variable holds its key."""

    kind: ProviderKind = Field(description="wire format family; `sim` is the embedded offline simulator")
    wire: WireFormat | None = Field(
        default=None, description="for kind `sim`: which wire format to speak (default openai)"
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
    max_connections: int = Field(default=100, ge=1, description="connection pool size")

    @property
    def wire_format(self) -> WireFormat:
        if self.kind == "sim":
            return self.wire or "openai"
        return self.kind

    @field_validator("headers")
    @classmethod
    def _no_literal_secrets(cls, headers: dict[str, str]) -> dict[str, str]:
        for key, value in headers.items():
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
    context_window: int = Field(default=128_000, gt=0)
    max_output_tokens: int = Field(default=4096, gt=0)
    tokenizer: Literal["o200k_base", "cl100k_base"] | None = Field(
        default=None, description="for local estimates; default guessed from the model id"
    )
    prices: list[Price] = Field(default_factory=list, description="versioned price entries, USD per 1M tokens")
    sim: SimBehaviour | None = Field(default=None, description="simulator dials (providers of kind `sim` only)")


class Step(Strict):
    """One step of a route: its targets are tried in order, primary first, until one answers."""

    name: Name
    kind: Literal["generate"] = "generate"
    targets: list[Name] = Field(min_length=1, description="model aliases: primary first, then fallbacks in order")
    system: str | None = Field(default=None, description="system prompt")
    max_output_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_cost_usd: NonNegativeDecimal | None = Field(default=None, description="cost cap for this step")


class Route(Strict):
    """A named orchestration: steps run in order, with an optional cost cap for the whole run."""

    description: str | None = None
    steps: list[Step] = Field(min_length=1)
    max_cost_usd: NonNegativeDecimal | None = Field(default=None, description="cost cap for a whole run")

    @model_validator(mode="after")
    def _unique_steps(self) -> Route:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"step name {step.name!r} is used twice")
            seen.add(step.name)
        return self


class SimSettings(Strict):
    """Settings of the embedded simulator shared by every `sim` provider."""

    seed: int = Field(default=7, description="the simulator's seed: same seed, same answers and faults")
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")


class Profile(Strict):
    """A workbench profile: providers, models (with prices and limits) and the routes that use them."""

    version: Literal[1] = 1
    name: str = Field(default="profile", min_length=1)
    description: str | None = None
    default_route: Name | None = Field(default=None, description="route used when none is named (default: first)")
    sim: SimSettings = Field(default_factory=SimSettings)
    providers: dict[Name, Provider] = Field(min_length=1)
    models: dict[Name, Model] = Field(min_length=1)
    routes: dict[Name, Route] = Field(min_length=1)

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
            for i, step in enumerate(route.steps):
                for j, target in enumerate(step.targets):
                    if target not in self.models:
                        problems.append(
                            f"@routes.{rname}.steps.{i}.targets.{j}: unknown model {target!r}"
                            f" (defined: {', '.join(self.models)})"
                        )
        if self.default_route is not None and self.default_route not in self.routes:
            problems.append(f"@default_route: unknown route {self.default_route!r} (defined: {', '.join(self.routes)})")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def route(self, name: str | None = None) -> tuple[str, Route]:
        key = name or self.default_route or next(iter(self.routes))
        if key not in self.routes:
            raise KeyError(key)
        return key, self.routes[key]
