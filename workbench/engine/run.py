"""Running a route: the engine's entry point, shared by the CLI, the TUI and the benchmarks.

    async with Engine(loaded_profile) as engine:
        async for event in engine.run("prompt", route="default", cancel=token):
            ...

The engine owns one pooled `httpx.AsyncClient` per provider (created on first use, closed on exit) and the
services its provider kinds run while it is open (`ProviderPlugin.open`: for kind `sim`, the embedded simulator, a
loopback server in its own thread). It knows provider kinds only through their plugins
(`workbench.providers.plugin`), so it imports no wire format and not the simulator. It yields the typed events of
`workbench.engine.events` and knows nothing of who consumes them.

A run: `run_started`, a `decision` naming the route, then each step through its executor (`executors.py`):
a `generate` step is a step hop enclosing one attempt hop per call (primary first; on a retryable error a
`decision` says why and the next target is tried); a `route` step's chosen branch runs next; then
`run_finished` with totals. Each step's output is the next step's input unless its prompt template says
otherwise; the run context (`context.py`) carries history, documents, each step's result and metadata.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import httpx

from workbench.engine import lag
from workbench.engine.admission import AdmissionGate, Admitted, sized_pool, wait_for_slot
from workbench.engine.budget import run_budget_ms
from workbench.engine.cancel import CancelToken
from workbench.engine.context import RunContext, StepCall
from workbench.engine.events import Decision, DecisionAction, Event, RunFinished, RunStarted, RunStatus, cost_record
from workbench.engine.step import RunState
from workbench.errors import EngineError, WorkbenchError
from workbench.profiles.models import Profile, Route
from workbench.profiles.steps import STEP_KINDS, step_at, step_targets
from workbench.providers.base import Adapter
from workbench.tokens import encoding_for_model

if TYPE_CHECKING:
    from workbench.engine.lag import LagMonitor
    from workbench.engine.startup import Startup
    from workbench.profiles.load import LoadedProfile
    from workbench.providers.plugin import ProviderService


def new_run_id() -> str:
    """Sortable by time, unique without coordination: 12 hex digits of ms since epoch + 8 random."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


class Engine:
    def __init__(
        self,
        loaded: LoadedProfile,
        *,
        environ: Mapping[str, str] | None = None,
        services: Mapping[str, Any] | None = None,
        sim_server: Any = None,
    ) -> None:
        """`services`: per provider kind, something of the caller's that kind's plugin uses instead of starting its
        own (`ProviderPlugin.open`'s `given`); `sim_server=` is short for `services={"sim": ...}` (a `SimServer`
        the caller owns, started if it is not, never stopped here)."""
        self.loaded = loaded
        self.profile: Profile = loaded.profile
        self._environ = os.environ if environ is None else environ
        self._given: dict[str, Any] = dict(services or {})
        if sim_server is not None:
            self._given["sim"] = sim_server
        self._services: dict[str, ProviderService | None] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._adapters: dict[str, Adapter] = {}
        self._checked: dict[str | None, tuple[str, Route]] = {}  # routes that passed check_route
        self._startup: Startup | None = None
        self._started = False
        self._lag: LagMonitor | None = None  # how far the loop falls behind (workbench/engine/lag.py)
        # runs in flight at once (profile `engine.max_concurrent_runs`); more wait their turn (admission.py)
        self.admission = AdmissionGate(self.profile.engine.max_concurrent_runs)

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def service(self, kind: str) -> Any:
        """The service the `kind` provider plugin runs for this engine (None: none, or the engine is not started)."""
        return self._services.get(kind)

    @property
    def sim_url(self) -> str | None:
        """Where the embedded simulator serves (None: the profile has no `sim` provider, or not started)."""
        service = self._services.get("sim")
        return None if service is None else service.base_url

    @property
    def _sim(self) -> Any:
        """The embedded simulator's `SimServer` (tests dial it and read what it received), None until it serves."""
        return getattr(self._services.get("sim"), "server", None)

    async def start(self) -> None:
        """Make the engine usable at once: each provider kind's service is opened (quick: the simulator reserves
        its port), the slow part (tokenizer tables, warming the services) runs in the background and `run()` waits
        for it before its first hop (see workbench/engine/startup.py)."""
        if self._started:
            return
        from workbench.engine.startup import Startup
        from workbench.providers.plugin import PROVIDERS

        self._lag = lag.acquire()
        try:
            for kind in dict.fromkeys(p.kind for p in self.profile.providers.values()):
                if kind not in self._services:
                    self._services[kind] = await PROVIDERS.get(kind).open(self.profile, self._given.get(kind))
        except BaseException:
            await self._close_services()
            lag.release(self._lag)
            self._lag = None
            raise
        self._startup = Startup(
            {m.tokenizer or encoding_for_model(m.model) for m in self.profile.models.values()},
            warmers=[service.warm for service in self._services.values() if service is not None],
        )
        self._started = True

    async def ready(self) -> None:
        """Wait until the background start-up is done. Raises WorkbenchError if it failed."""
        if not self._started:
            await self.start()
        if self._startup is not None:
            await self._startup.ready()

    async def _close_services(self) -> None:
        services, self._services = self._services, {}
        for service in services.values():
            if service is not None:
                await service.close()

    async def close(self) -> None:
        if self._lag is not None:
            lag.release(self._lag)
            self._lag = None
        clients, self._clients, self._adapters = self._clients, {}, {}
        self._checked = {}
        for client in clients.values():
            await client.aclose()
        startup, self._startup = self._startup, None
        if startup is not None:
            await startup.close()  # ends the background work (a service not warmed yet never starts)
        await self._close_services()
        self._started = False

    # -- adapters ------------------------------------------------------------------------------------------
    def adapter(self, provider_name: str) -> Adapter:
        adapter = self._adapters.get(provider_name)
        if adapter is not None:
            return adapter
        from workbench.providers.plugin import PROVIDERS
        from workbench.providers.registry import make_adapter, make_client

        provider = self.profile.providers[provider_name]
        base_url = None
        if provider.kind in self._services:
            base_url = PROVIDERS.get(provider.kind).base_url(provider, self._services[provider.kind])
        elif not PROVIDERS.get(provider.kind).takes_base_url:
            raise EngineError(
                f"provider {provider_name!r} (kind {provider.kind}) is not running: use the engine inside"
                " `async with Engine(...)`"
            )
        client = self._clients.get(provider_name) or make_client(sized_pool(self.profile, provider_name))
        self._clients[provider_name] = client
        adapter = make_adapter(provider_name, provider, client, base_url=base_url, environ=self._environ)
        self._adapters[provider_name] = adapter
        return adapter

    def inject_fault(self, model_alias: str, kind: str | None, rate: float = 1.0, **options: float) -> None:
        """Client-side fault injection (workbench/providers/faults.py) for a model on any provider: `kind` one of
        the simulator's fault kinds (None clears it), drawn at `rate` per request. Hook for the TUI's toggles."""
        from workbench.providers import faults

        model = self.profile.models[model_alias]
        self.adapter(model.provider)  # makes the provider's client
        faults.install(self._clients[model.provider], seed=self.profile.sim.seed).set(
            model.model, kind, rate, **options
        )

    def check_route(self, route_name: str | None = None) -> tuple[str, Route]:
        """Resolve a route and make sure every provider it may call is usable (keys present) and every step kind
        can run. Raises EngineError. A route that passed is remembered (the profile does not change under an
        engine, and adapters live as long as it does): the per-run cost is one dict lookup."""
        checked = self._checked.get(route_name)
        if checked is not None and self._adapters:
            return checked
        try:
            name, route = self.profile.route(route_name)
        except KeyError:
            raise EngineError(
                f"unknown route {route_name!r} in profile {self.profile.name!r}",
                hint=f"routes: {', '.join(self.profile.routes)}",
            ) from None
        # Every kind the profile format has is runnable; `profiles.steps.STEP_KINDS` and the executor registry are
        # kept equal by a test, so checking here needs no import of the executors (they load after `run_started`).
        missing = [(path, step.kind) for path, step in route.all_steps() if step.kind not in STEP_KINDS]
        if missing:
            path, kind = missing[0]
            where = self.loaded.where(("routes", name, "steps", *path))
            raise EngineError(
                f"{where}: step kind {kind!r} is not supported yet by this engine",
                hint="run a route made of supported steps",
            )
        for _, step in route.all_steps():
            for alias in step_targets(step):
                self.adapter(self.profile.models[alias].provider)
        self._checked[route_name] = (name, route)
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
        metadata: Mapping[str, str] | None = None,
        history: list[dict[str, str]] | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """Run `prompt` through a route, yielding events. Raises EngineError before the first event only.

        `history` is the conversation so far ({role, content} turns, oldest first) for multi-turn sessions;
        `metadata` the request's key=value fields (routing rules and templates read them)."""
        if not self._started:
            await self.start()
        route_name, route_cfg = self.check_route(route)
        run_id = run_id or new_run_id()
        cancel = cancel or CancelToken()
        loop = asyncio.get_running_loop()
        monotonic = time.monotonic
        t0 = loop.time()
        loaded = self.loaded
        yield RunStarted(
            run_id=run_id,
            route=route_name,
            prompt=prompt,
            profile=self.profile.name,
            profile_hash=loaded.sha256,
            profile_path=str(loaded.path) if loaded.path else "",
            metadata=dict(metadata) if metadata else None,
            session_id=session_id,
            turn=1 + sum(1 for m in history or () if m.get("role") == "user"),
        )
        why = (
            "named by the caller"
            if route
            else ("the profile's default_route" if self.profile.default_route else "the profile's first route")
        )
        yield Decision(
            run_id=run_id,
            hop_id=None,
            action=DecisionAction.ROUTE,
            reason=f"route {route_name!r}: {why}",
            target=route_name,
        )

        state = RunState(run_id=run_id, cap=route_cfg.max_cost_usd, t0=t0)
        ctx = RunContext(input=prompt, history=list(history or ()), metadata=dict(metadata or {}))
        status = RunStatus.OK
        error: str | None = None
        reason: str | None = None
        produced = False
        degraded: str | None = None  # why a gate's fallback path was taken (the run then ends `degraded`)
        # Imported here, after `run_started` is out: the executors (gate, retrieval, parallel...) are ~40 ms of
        # imports that the first event need not wait for. Cached by Python after the first run.
        from workbench.engine.executors import EXECUTORS, OUTPUT_KINDS

        # A worklist, not recursion: a route step's chosen branch is pushed in front of the steps that follow it.
        work: deque[tuple[Any, tuple[str | int, ...]]] = deque((step, (i,)) for i, step in enumerate(route_cfg.steps))
        held = False  # this run holds one of the engine's admission slots
        try:
            try:
                await self.ready()  # tokenizers and simulator, started in the background by start()
            except WorkbenchError as exc:
                status, error = RunStatus.ERROR, str(exc)
                work.clear()
            gate = self.admission
            if work and not (held := gate.try_enter()):
                # The engine is at its limit: wait (FIFO) before the first step, no attempt timer running. The
                # run's latency budget counts from run_started, so the wait spends it.
                budget_ms = run_budget_ms(self.profile, route_name)
                deadline = None if budget_ms is None else t0 + budget_ms / 1000.0
                admitted = Admitted()
                # aclosing: a consumer that walks away mid-wait gives its place (or a slot just handed over) back now
                async with aclosing(wait_for_slot(gate, state, cancel, deadline, budget_ms, admitted)) as waiting:
                    async for event in waiting:
                        yield event
                held = admitted.ok
                if not held:
                    status = RunStatus.CANCELLED if admitted.status == "cancelled" else RunStatus.ERROR
                    error, reason = admitted.error, admitted.reason
                    work.clear()
            state.task = asyncio.current_task()  # (see RunState.task: whose attempts the caller's holds pause)
            while work:
                step, path = work.popleft()
                ctx.executed += 1
                if ctx.executed > route_cfg.max_steps:
                    status, error = RunStatus.ERROR, f"the run executed more than max_steps={route_cfg.max_steps} steps"
                    yield Decision(
                        run_id=run_id,
                        hop_id=None,
                        action=DecisionAction.GUARD,
                        reason=error,
                        data={"max_steps": route_cfg.max_steps},
                    )
                    break
                call = StepCall(
                    engine=self,
                    state=state,
                    ctx=ctx,
                    route=route_name,
                    step=step,
                    path=path,
                    cancel=cancel,
                    extra_headers=extra_headers,
                )
                async for event in EXECUTORS[step.kind](call):
                    held_from = monotonic()
                    yield event
                    state.held += monotonic() - held_from  # the caller's time, not the engine's (see engine_ms)
                result = call.result
                if result is None:  # an executor that forgot its result is a defect: fail loudly, not silently
                    status, error = RunStatus.ERROR, f"step {step.name!r} ({step.kind}) produced no result"
                    break
                ctx.steps[step.name] = result
                if result.kind in OUTPUT_KINDS and (result.status == "ok" or result.output):
                    ctx.last_output = result.output
                    produced = True
                if result.status != "ok":
                    status = {
                        "cancelled": RunStatus.CANCELLED,
                        "degraded": RunStatus.DEGRADED,
                    }.get(result.status, RunStatus.ERROR)
                    error = result.error if status != RunStatus.DEGRADED else None
                    reason = result.reason
                    break
                if result.degraded is not None:
                    degraded = result.degraded  # the run goes on, and ends `degraded` unless a later step fails
                if result.jump is not None:
                    # a gate's fallback path: the rest of the branch(es) it is in gives way to another branch of
                    # an enclosing route step; whatever follows that route step still runs after it
                    owner_path, bname = result.jump
                    inside = (*owner_path, "branches")
                    while work and work[0][1][: len(inside)] == inside:
                        work.popleft()
                    branch = step_at(route_cfg.steps, owner_path).branches[bname]
                    work.extendleft(reversed([(s, (*inside, bname, j)) for j, s in enumerate(branch)]))
                if result.branch is not None:
                    branch = step.branches[result.branch]
                    work.extendleft(
                        reversed([(s, (*path, "branches", result.branch, j)) for j, s in enumerate(branch)])
                    )
            if held:  # free the slot before the last event: a consumer that saw run_finished saw it freed
                held = False
                gate.leave()
            if status == RunStatus.OK and degraded is not None:
                status, reason = RunStatus.DEGRADED, degraded
            output = ctx.last_output if produced else ""
            yield RunFinished(
                run_id=run_id,
                status=status,
                output=output,
                latency_ms=(loop.time() - t0) * 1000.0,
                ttft_ms=state.ttft_ms,
                input_tokens=state.input_tokens,
                output_tokens=state.output_tokens,
                cost_usd=state.spent,
                cost=cost_record(state.spent),
                error=error,
                estimated=state.estimated,
                reason=reason,
            )
        finally:
            if held:  # the consumer abandoned the run (closed the generator, or its task was cancelled)
                gate.leave()
