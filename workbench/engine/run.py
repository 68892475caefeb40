"""Running a route: the engine's entry point, shared by the CLI, the TUI and the benchmarks.

    async with Engine(loaded_profile) as engine:
        async for event in engine.run("prompt", route="default", cancel=token):
            ...

The engine owns one pooled `httpx.AsyncClient` per provider (created on first use, closed on exit) and, when
the profile has providers of kind `sim`, the embedded simulator (a loopback server in its own thread). It yields
the typed events of `workbench.engine.events` and knows nothing of who consumes them.

A run: `run_started`, a `decision` naming the route, then per step a `step` hop enclosing one `attempt` hop per
target tried (primary first; on a retryable error a `decision` with action `fallback` says why and the next
target is tried), then `run_finished` with totals. Steps run in order; each step's output is the next step's
input. (Routing, retries, budgets per component and gates arrive in later layers: see `_run_step`.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping

import httpx

from workbench.accounting.prices import select_price
from workbench.accounting.usage import cost_of, Usage
from workbench.engine.attempt import AttemptOutcome, AttemptPlan, run_attempt
from workbench.engine.cancel import CancelToken
from workbench.engine.events import Decision, Event, HopFinished, HopStarted, RunFinished, RunStarted
from workbench.errors import EngineError
from workbench.profiles.models import Profile, Route, Step
from workbench.providers.base import Adapter, ChatRequest
from workbench.tokens import count_messages, encoding_for_model

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile
    from workbench.sim.server import SimServer

ZERO = Decimal(0)


def new_run_id() -> str:
    """Sortable by time, unique without coordination: 12 hex digits of ms since epoch + 8 random."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


class Engine:
    def __init__(
        self,
        loaded: "LoadedProfile",
        *,
        environ: Mapping[str, str] | None = None,
        sim_server: "SimServer | None" = None,
    ) -> None:
        self.loaded = loaded
        self.profile: Profile = loaded.profile
        self._environ = os.environ if environ is None else environ
        self._sim = sim_server
        self._owns_sim = sim_server is None
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._adapters: dict[str, Adapter] = {}
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def sim_url(self) -> str | None:
        return None if self._sim is None else self._sim.base_url

    def _sim_models(self) -> dict[str, Any]:
        from workbench.sim.behaviour import SimBehaviour

        models: dict[str, Any] = {}
        for model in self.profile.models.values():
            if self.profile.providers[model.provider].kind != "sim":
                continue
            behaviour = model.sim or SimBehaviour()
            encoding = model.tokenizer or encoding_for_model(model.model)
            models[model.model] = behaviour.model_copy(update={"tokenizer": encoding})
        return models

    def _warm_tokenizers(self) -> None:
        from workbench.tokens import get_encoding

        for name in {m.tokenizer or encoding_for_model(m.model) for m in self.profile.models.values()}:
            get_encoding(name)

    async def start(self) -> None:
        if self._started:
            return
        # Loading a BPE table takes ~0.3 s: do it in a thread while the simulator starts, not in the first hop.
        warm = asyncio.create_task(asyncio.to_thread(self._warm_tokenizers))
        try:
            await self._start_sim()
        finally:
            await warm
        self._started = True

    async def _start_sim(self) -> None:
        if any(p.kind == "sim" for p in self.profile.providers.values()):
            if self._sim is None:
                from workbench.sim.server import SimServer

                self._sim = SimServer(self._sim_models(), seed=self.profile.sim.seed, port=self.profile.sim.port)
            try:
                await asyncio.to_thread(self._sim.start)
            except OSError as exc:
                from workbench.errors import SimError

                raise SimError(f"the embedded simulator could not start: {exc}") from exc

    async def close(self) -> None:
        clients, self._clients, self._adapters = self._clients, {}, {}
        for client in clients.values():
            await client.aclose()
        if self._sim is not None and self._owns_sim:
            await asyncio.to_thread(self._sim.stop)
            self._sim = None
        self._started = False

    # -- adapters ------------------------------------------------------------------------------------------
    def adapter(self, provider_name: str) -> Adapter:
        adapter = self._adapters.get(provider_name)
        if adapter is not None:
            return adapter
        from workbench.providers.registry import make_adapter, make_client

        provider = self.profile.providers[provider_name]
        base_url = None
        if provider.kind == "sim":
            if self._sim is None:
                raise EngineError("the simulator is not running: use the engine inside `async with Engine(...)`")
            base_url = self._sim.base_url + ("/v1" if provider.wire_format == "openai" else "")
        client = self._clients.get(provider_name) or make_client(provider)
        self._clients[provider_name] = client
        adapter = make_adapter(provider_name, provider, client, base_url=base_url, environ=self._environ)
        self._adapters[provider_name] = adapter
        return adapter

    def check_route(self, route_name: str | None = None) -> tuple[str, Route]:
        """Resolve a route and make sure every provider it may call is usable (keys present). Raises EngineError."""
        try:
            name, route = self.profile.route(route_name)
        except KeyError:
            raise EngineError(
                f"unknown route {route_name!r} in profile {self.profile.name!r}",
                hint=f"routes: {', '.join(self.profile.routes)}",
            ) from None
        for step in route.steps:
            for target in step.targets:
                self.adapter(self.profile.models[target].provider)
        return name, route

    # -- running -------------------------------------------------------------------------------------------
    async def run(
        self,
        prompt: str,
        *,
        route: str | None = None,
        run_id: str | None = None,
        cancel: CancelToken | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Event]:
        """Run `prompt` through a route, yielding events. Raises EngineError before the first event only."""
        if not self._started:
            await self.start()
        route_name, route_cfg = self.check_route(route)
        run_id = run_id or new_run_id()
        cancel = cancel or CancelToken()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        loaded = self.loaded
        yield RunStarted(
            run_id=run_id,
            route=route_name,
            prompt=prompt,
            profile=self.profile.name,
            profile_hash=loaded.sha256,
            profile_path=str(loaded.path) if loaded.path else "",
        )
        why = "named by the caller" if route else (
            "the profile's default_route" if self.profile.default_route else "the profile's first route"
        )
        yield Decision(run_id=run_id, hop_id=None, action="route", reason=f"route {route_name!r}: {why}",
                       target=route_name)

        state = _RunState(run_id=run_id, cap=route_cfg.max_cost_usd)
        text = prompt
        status: str = "ok"
        error: str | None = None
        for step in route_cfg.steps:
            outcome = _StepResult()
            async for event in self._run_step(state, step, text, cancel, outcome, extra_headers):
                yield event
            if outcome.status != "ok":
                status = "cancelled" if outcome.status == "cancelled" else "error"
                error = outcome.error
                text = outcome.text
                break
            text = outcome.text
        yield RunFinished(
            run_id=run_id,
            status=status,  # type: ignore[arg-type]
            output=text if status == "ok" or text != prompt else "",
            latency_ms=(loop.time() - t0) * 1000.0,
            ttft_ms=state.ttft_ms,
            input_tokens=state.input_tokens,
            output_tokens=state.output_tokens,
            cost_usd=state.spent,
            cost=str(state.spent),
            error=error,
            estimated=state.estimated,
        )

    async def _run_step(
        self,
        state: "_RunState",
        step: Step,
        text: str,
        cancel: CancelToken,
        result: "_StepResult",
        extra_headers: Mapping[str, str] | None,
    ) -> AsyncIterator[Event]:
        run_id = state.run_id
        step_id = state.next_hop_id()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        yield HopStarted(run_id=run_id, hop_id=step_id, kind="step", name=step.name)
        messages = [{"role": "user", "content": text}]
        step_spent = ZERO
        last_error: str | None = None
        status = "error"
        reason: str | None = None
        today = dt.date.today()
        targets = step.targets
        for index, alias in enumerate(targets):
            model = self.profile.models[alias]
            provider = self.profile.providers[model.provider]
            encoding = model.tokenizer or encoding_for_model(model.model)
            max_tokens = min(step.max_output_tokens or model.max_output_tokens, model.max_output_tokens)
            counted = ([{"role": "system", "content": step.system}] if step.system else []) + messages
            est_input = count_messages(counted, model=model.model, encoding=encoding)
            price = select_price(model.prices, today)
            hop_id = state.next_hop_id()
            next_alias = targets[index + 1] if index + 1 < len(targets) else None

            # Cost caps: reserve the worst case (whole prompt + max output) before the call.
            cap_remaining, cap_label = state.remaining(step.max_cost_usd, step_spent)
            if cap_remaining is not None and price is not None and not price.is_free:
                worst = cost_of(Usage(input_tokens=est_input, output_tokens=max_tokens), price).total
                if worst > cap_remaining:
                    why = (
                        f"{cap_label}: worst case ${worst:.6f} ({est_input} prompt + {max_tokens} max output tokens)"
                        f" exceeds ${cap_remaining:.6f} left"
                    )
                    yield Decision(run_id=run_id, hop_id=step_id, action="refuse", reason=f"{alias} refused: {why}",
                                   target=alias)
                    yield HopFinished(run_id=run_id, hop_id=hop_id, parent_id=step_id, kind="attempt", name=alias,
                                      provider=model.provider, model=alias, model_id=model.model,
                                      attempt=index + 1, status="skipped", reason=why, error_class="cost_cap",
                                      price=None if price is None else price.model_dump(mode="json"))
                    last_error = f"{alias} refused by {why}"
                    continue

            adapter = self.adapter(model.provider)
            request = ChatRequest(
                model=model.model,
                messages=messages,
                system=step.system,
                max_tokens=max_tokens,
                temperature=step.temperature,
                extra_headers=dict(extra_headers) if extra_headers else {},
            )
            yield HopStarted(run_id=run_id, hop_id=hop_id, parent_id=step_id, kind="attempt", name=alias,
                             provider=model.provider, model=alias, model_id=model.model, attempt=index + 1)
            plan = AttemptPlan(
                run_id=run_id, hop_id=hop_id, parent_id=step_id, attempt=index + 1, alias=alias,
                provider=model.provider, model_id=model.model, adapter=adapter, request=request, price=price,
                encoding=encoding, est_input_tokens=est_input,
                first_token_timeout=provider.timeouts.first_token, idle_timeout=provider.timeouts.idle,
                total_timeout=provider.timeouts.total, cap_remaining=cap_remaining, cap_label=cap_label,
            )
            out = AttemptOutcome()
            async for event in run_attempt(plan, cancel, out):
                if type(event) is HopFinished:
                    state.account(event, out)
                    step_spent += out.cost.total
                yield event
            if out.status == "ok":
                status, result.text = "ok", out.text
                break
            if out.status == "cancelled":
                # a tripped cost cap ends the step as an error (the budget is spent); a user cancel as cancelled
                status = "error" if out.cap_tripped else "cancelled"
                result.text, reason = out.text, out.reason
                last_error = out.reason
                break
            err = out.error
            last_error = str(err) if err else out.reason
            if err is not None and err.retryable and next_alias is not None:
                yield Decision(run_id=run_id, hop_id=step_id, action="fallback", target=next_alias,
                               reason=f"{alias} failed ({err.kind}: {err.message}); falling back to {next_alias}")
                continue
            if err is not None and not err.retryable and next_alias is not None:
                yield Decision(run_id=run_id, hop_id=step_id, action="stop", target=None,
                               reason=f"{alias} failed with a non-retryable {err.kind} error; not falling back")
            break
        result.status = status
        result.error = None if status == "ok" else last_error
        yield HopFinished(run_id=run_id, hop_id=step_id, kind="step", name=step.name, status=status,  # type: ignore[arg-type]
                          latency_ms=(loop.time() - t0) * 1000.0, error=result.error, reason=reason,
                          output=result.text)


class _StepResult:
    __slots__ = ("status", "text", "error")

    def __init__(self) -> None:
        self.status = "error"
        self.text = ""
        self.error: str | None = None


class _RunState:
    """Running totals of a run: exact money, tokens, first token, and the run's cost cap."""

    __slots__ = ("run_id", "cap", "spent", "input_tokens", "output_tokens", "ttft_ms", "estimated", "_hops", "_t0")

    def __init__(self, run_id: str, cap: Decimal | None) -> None:
        self.run_id = run_id
        self.cap = cap
        self.spent = ZERO
        self.input_tokens = 0
        self.output_tokens = 0
        self.ttft_ms: float | None = None
        self.estimated = False
        self._hops = 0
        self._t0 = time.time()

    def next_hop_id(self) -> str:
        self._hops += 1
        return f"{self.run_id}.{self._hops}"

    def remaining(self, step_cap: Decimal | None, step_spent: Decimal) -> tuple[Decimal | None, str]:
        options: list[tuple[Decimal, str]] = []
        if self.cap is not None:
            options.append((self.cap - self.spent, f"run cap ${self.cap}"))
        if step_cap is not None:
            options.append((step_cap - step_spent, f"step cap ${step_cap}"))
        if not options:
            return None, ""
        left, label = min(options, key=lambda o: o[0])
        return max(left, ZERO), label

    def account(self, hop: HopFinished, out: AttemptOutcome) -> None:
        self.spent += out.cost.total
        self.input_tokens += hop.input_tokens
        self.output_tokens += hop.output_tokens
        if out.usage.estimated and (hop.input_tokens or hop.output_tokens):
            self.estimated = True
        if self.ttft_ms is None and hop.first_token_ts is not None:
            self.ttft_ms = (hop.first_token_ts - self._t0) * 1000.0
