"""A `generate` step's policy: which target to try next, cost caps before the call, fallbacks after it.

`StepRunner` is plain synchronous policy; `workbench.engine.generate.generate_step` drives it and streams each
attempt through `run_attempt`. Keeping the policy out of the generator chain keeps the per-token path short.
`next_attempt` decides what to call (balanced order, context windows, latency budget, circuit breaker, cost cap);
`settle` (settle.py) decides what an outcome means (retry after Retry-After or backoff, stream restart or continue,
fallback, degraded end); budgets, balancing, the outage queue and hedging thresholds live in step_policies.py.
Policies in force come from `workbench.profiles.resolve`, resolved once per step.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from workbench.accounting.prices import select_price
from workbench.engine import budget, health
from workbench.engine.attempt import AttemptOutcome, AttemptPlan, price_dict
from workbench.engine.events import (
    DecisionAction,
    ErrorClass,
    Event,
    HopFinished,
    HopKind,
    HopStarted,
    HopStatus,
)
from workbench.engine.reserve import output_allowance, worst_call_cost
from workbench.engine.settle import SettleMixin
from workbench.engine.step_policies import step_policies
from workbench.profiles.resolve import Resolved
from workbench.profiles.steps import GenerateStep
from workbench.profiles.templates import render_field
from workbench.providers.base import ChatRequest
from workbench.providers.content import FrozenJSON, ToolSpec, coerce_messages, coerce_tool_choice
from workbench.tokens import count_messages, count_tools, encoding_for_model, tool_system_tokens

_STEP_TOOLS: dict[int, tuple[GenerateStep, tuple[ToolSpec, ...]]] = {}


def step_tools(step: GenerateStep) -> tuple[ToolSpec, ...]:
    """The step's tools as the immutable contract type, built once per step of the loaded profile (freezing the
    schemas and hashing them is not per-run work). The entry holds the step itself, so its id cannot be reused."""
    hit = _STEP_TOOLS.get(id(step))
    if hit is not None and hit[0] is step:
        return hit[1]
    tools = tuple(ToolSpec(t.name, t.description, t.parameters) for t in step.tools)
    if len(_STEP_TOOLS) >= 4096:  # profiles reloaded many times over: start afresh
        _STEP_TOOLS.clear()
    _STEP_TOOLS[id(step)] = (step, tools)
    return tools


@functools.lru_cache(maxsize=256)
def tool_tokens(tools: tuple[ToolSpec, ...], model: str, encoding: str, choice: str) -> int:
    """The prompt tokens of the tool definitions a step offers (the tokenizer's tool rule) and of the system
    prompt the provider adds for them, worked out once per set of tools, model and tool choice: offering tools
    must not slow every attempt down (tools are immutable, hashable)."""
    return count_tools([t.as_dict() for t in tools], model=model, encoding=encoding) + tool_system_tokens(model, choice)


if TYPE_CHECKING:
    from workbench.engine.context import RunContext
    from workbench.engine.run import Engine

ZERO = Decimal(0)
CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stopped, without repeating any of it."
)


class RunState:
    """Running totals of a run: exact money, tokens, first token, and the run's cost cap."""

    __slots__ = (
        "run_id",
        "cap",
        "spent",
        "input_tokens",
        "output_tokens",
        "ttft_ms",
        "estimated",
        "_hops",
        "_t0",
        "deadline",
        "deadline_known",
        "held",
        "task",
    )

    def __init__(self, run_id: str, cap: Decimal | None, t0: float | None = None) -> None:
        self.run_id = run_id
        self.cap = cap
        self.spent = ZERO
        self.input_tokens = 0
        self.output_tokens = 0
        self.ttft_ms: float | None = None
        self.estimated = False
        #: seconds the caller held the run's events outside the engine (its own code between two events):
        #: subtracted from an attempt's wall time, with the time awaiting the provider, to give the engine's own
        self.held = 0.0
        #: the task the run's events are pulled from: an attempt run in it (the single-stream path) is suspended
        #: while the caller holds an event; one run in a task of its own (a hedge racer, a parallel branch) is not
        self.task: Any = None
        self._hops = 0
        self._t0 = time.monotonic() if t0 is None else t0  # the run's start on the monotonic (loop) clock
        # the run's latency budget as a monotonic deadline; set by the first step from the route's budget
        self.deadline: float | None = None
        self.deadline_known = False

    def next_hop_id(self) -> str:
        self._hops += 1
        return f"{self.run_id}.{self._hops}"

    def remaining(self, step_cap: Decimal | None, step_spent: Decimal) -> tuple[Decimal | None, str]:
        """Money left under the tightest applicable cap, and that cap's label."""
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
        if self.ttft_ms is None and out.first_at is not None:
            self.ttft_ms = (out.first_at - self._t0) * 1000.0


class StepRunner(SettleMixin):
    """One generate step's policy: targets in order, retries on each, breakers, budgets and caps.

    `SettleMixin` (settle.py) builds on `PolicyMixin` (step_policies.py): both are mixed in."""

    def __init__(
        self,
        engine: Engine,
        state: RunState,
        step: GenerateStep,
        ctx: RunContext,
        extra_headers: Mapping[str, str] | None,
        *,
        route: str = "",
        path: tuple[str | int, ...] = (),
        parent_id: str | None = None,
        allowed: tuple[int, ...] | None = None,
    ) -> None:
        self.engine = engine
        self.profile = engine.profile
        self.state = state
        self.step = step
        self.route = route
        self.path = path
        self.parent_id = parent_id
        variables = ctx.template_vars()
        # a TemplateError here is the step's error (generate_step reports it; nothing has been sent)
        text = render_field(step.name, "prompt", step.prompt, variables) if step.prompt else ctx.last_output
        self.system = render_field(step.name, "system", step.system, variables) if step.system else None
        self.messages = [*(ctx.history if step.history else []), {"role": "user", "content": text}]
        # tools offered: built once per step (immutable, shared by every attempt's request) and counted in the
        # prompt estimate by the tokenizer's tool rule
        self.tools = step_tools(step) if step.tools else ()
        self.tool_choice = coerce_tool_choice(step.tool_choice)
        # frozen once: every attempt's (immutable) request shares them, and the typed messages, as they are
        self.extra_headers: Mapping[str, str] = FrozenJSON(extra_headers) if extra_headers else FrozenJSON()
        self._typed = coerce_messages(self.messages)
        self.step_id = state.next_hop_id()
        self.spent = ZERO
        self.index = -1  # the target in play (its place in step.targets)
        self.pos = -1  # its place in `order`
        self.attempt_no = 0
        self.done = False
        self.status = "error"
        self.text = ""
        self.error: str | None = None
        self.reason: str | None = None
        self.today = dt.date.today()
        self._t0 = time.monotonic()
        # after a provider said "prompt too long" for a window of this size, smaller windows are not tried
        self.rejected_window: int | None = None
        # resilience state
        self.retry_next = False  # the next attempt calls the same target again
        self.wait_s = 0.0  # generate_step waits this long before the next attempt
        self.prefix = ""  # on_stream_failure=continue: text kept from broken streams, the next call continues it
        self.best = ""  # the longest text any attempt produced (a degraded step's answer)
        self.jump_to: int | None = None  # the budget's fast fallback, as an index into the chain
        self.fast_tried = False
        self.attempted = False  # an attempt was started (a queue only makes sense when every target was skipped)
        self.open_waits: list[float] = []  # seconds until each breaker-skipped target half-opens
        self.queue_wait = 0.0
        self.queue_rounds = 0
        pol = self.pol = step_policies(self.profile, route, path, step) if route else None
        self.step_policy: Resolved | None = pol.step if pol is not None else None
        if not state.deadline_known and pol is not None:
            state.deadline_known = True
            ms = pol.run_ms
            state.deadline = None if ms is None else state._t0 + ms / 1000.0
        step_ms = pol.step_ms if pol is not None else None
        self.deadline: float | None = state.deadline
        if step_ms is not None:
            own = self._t0 + step_ms / 1000.0
            self.deadline = own if self.deadline is None else min(own, self.deadline)
        fast = self.step_policy.budget.fast_fallback if self.step_policy is not None else None
        self.order: list[int] = list(range(len(step.targets))) if allowed is None else list(allowed)
        self.pending: list[Event] = []
        strategy = self.step_policy.balance.strategy if self.step_policy is not None else "none"
        if strategy not in (None, "none") and len(self.order) > 1:
            self._balance(str(strategy))
        self.fast_alias: str | None = fast

    def started(self) -> HopStarted:
        return HopStarted(
            run_id=self.state.run_id,
            hop_id=self.step_id,
            parent_id=self.parent_id,
            kind=HopKind.STEP,
            name=self.step.name,
        )

    def _skipped_hop(
        self, hop_id: str, alias: str, model: Any, attempt: int, why: str, cls: ErrorClass, price: Any
    ) -> HopFinished:
        """The hop of a target that was not called."""
        return HopFinished(
            run_id=self.state.run_id,
            hop_id=hop_id,
            parent_id=self.step_id,
            kind=HopKind.ATTEMPT,
            name=alias,
            provider=model.provider,
            model=alias,
            model_id=model.model,
            attempt=attempt,
            target_index=self.index,
            status=HopStatus.SKIPPED,
            reason=why,
            error_class=cls,
            price=price_dict(price),
        )

    def _not_called(
        self,
        pending: list[Event],
        hop_id: str,
        alias: str,
        model: Any,
        attempt: int,
        why: str,
        cls: ErrorClass,
        price: Any,
        *,
        action: DecisionAction = DecisionAction.SKIP,
        data: dict[str, Any] | None = None,
    ) -> str:
        """A target passed over before any call: its decision (with the reason) and its skipped hop, appended to
        `pending`. Returns the reason as the step's error so far."""
        verb = "refused" if action == DecisionAction.REFUSE else "skipped"
        pending.append(
            self._decide(
                action=action,
                reason=f"{alias} {verb}: {why}",
                target=alias,
                data=data,
            )
        )
        pending.append(self._skipped_hop(hop_id, alias, model, attempt, why, cls, price))
        return f"{alias} {verb}: {why}" if verb == "skipped" else f"{alias} refused by {why}"

    def next_attempt(self) -> tuple[list[Event], AttemptPlan | None]:
        """Events to emit first (refusals, skips), and the next call to make (None: nothing left to try)."""
        pending: list[Event] = self.pending
        self.pending = []
        state, step, run_id = self.state, self.step, self.state.run_id
        while not self.done:
            if self.retry_next:
                self.retry_next = False
                self.attempt_no += 1
            else:
                nxt = self._next_index()
                if nxt is None:
                    break
                self.index, self.attempt_no = nxt, 1
                if nxt >= len(step.targets) or self._alias(nxt) == self.fast_alias:
                    self.fast_tried = True
            index, attempt = self.index, self.attempt_no
            alias = self._alias(index)
            target = step.targets[index] if index < len(step.targets) else None
            model = self.profile.models[alias]
            policy = self._policy(index)
            timeouts = policy.timeouts if policy is not None else self.profile.providers[model.provider].timeouts
            encoding = model.tokenizer or encoding_for_model(model.model)
            max_tokens = output_allowance(model, step.max_output_tokens, target.max_output_tokens if target else None)
            messages = self.messages
            echo: tuple[str, ...] = ()
            if self.prefix:
                # how a cut answer is continued is the wire format's business (a prefill, or an instruction)
                adapter = type(self.engine.adapter(model.provider))
                messages, echo = adapter.continuation(messages, self.prefix, CONTINUE_INSTRUCTION)
            counted = ([{"role": "system", "content": self.system}] if self.system else []) + messages
            est_input = count_messages(counted, model=model.model, encoding=encoding)
            if self.tools:
                mode = self.tool_choice.mode if self.tool_choice is not None else "auto"
                est_input += tool_tokens(self.tools, model.model, encoding, mode)
            price = select_price(model.prices, self.today)
            hop_id = state.next_hop_id()
            hkey = health.key(model.provider, model.model)

            # Context windows: never call a model that cannot take the prompt and the answer it is asked for (FIELD-NOTES
            # hard case 20): the window holds both, so the output tokens the request reserves (max_tokens) count too.
            too_long = None
            if est_input + max_tokens > model.context_window:
                too_long = (
                    f"the prompt is ~{est_input} tokens and {max_tokens} are reserved for the answer (max output"
                    f" tokens): {est_input + max_tokens}, over {alias}'s context window of {model.context_window}"
                )
            elif self.rejected_window is not None and model.context_window <= self.rejected_window:
                too_long = (
                    f"{alias}'s context window ({model.context_window}) is no larger than one that already"
                    f" rejected the prompt ({self.rejected_window})"
                )
            if too_long is not None:
                self.error = self._not_called(
                    pending, hop_id, alias, model, attempt, too_long, ErrorClass.CONTEXT_WINDOW, price
                )
                continue

            # Latency budget: is there time for this call at all?
            left: float | None = None
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                needed = budget.expected_s(hkey)
                if left <= 0 or needed > left:
                    events, jumped = self._out_of_time(alias, needed, max(left, 0.0))
                    pending.extend(events)
                    if jumped:
                        self.retry_next = False
                        continue
                    return pending, None

            # Circuit breaker: a target that failed K times lately is skipped until its open period ends.
            probe = False
            if policy is not None:
                verdict, data = health.admit(hkey, policy.breaker)
                if verdict == "skip":
                    assert data is not None
                    why = f"circuit open after {data['failures']} recent failures; retried in {data['open_for_s']:g}s"
                    if data.get("probe_in_flight"):
                        why = "circuit half-open and its one probe call is in flight"
                    self.error = self._not_called(
                        pending, hop_id, alias, model, attempt, why, ErrorClass.BREAKER, price, data=data
                    )
                    self.retry_next = False
                    self.open_waits.append(float(data.get("open_for_s", 0.0)))
                    continue
                probe = verdict == "probe"

            # Cost caps: reserve the worst case (whole prompt + max output) before the call.
            cap_remaining, cap_label = state.remaining(step.max_cost_usd, self.spent)
            if price is None and not model.free:
                # No price in force (a typo'd `effective` date, no prices): its cost cannot be known, so a cap
                # cannot bound it. Said each time the target is tried; refused when a cap is in force.
                why = f"{alias} has no price in force on {self.today}: its calls are costed at $0"
                refused = cap_remaining is not None
                why += f"; refused, since {cap_label} cannot bound it" if refused else " (declare `free: true`?)"
                pending.append(
                    self._decide(
                        action=DecisionAction.PRICE,
                        reason=why,
                        target=alias,
                        data={"model": alias, "date": str(self.today), "refused": refused},
                    )
                )
                if refused:
                    pending.append(self._skipped_hop(hop_id, alias, model, 1, why, ErrorClass.COST_CAP, None))
                    self.error = why
                    continue
            if cap_remaining is not None and price is not None and not price.is_free:
                worst = worst_call_cost(est_input, max_tokens, price)
                if worst > cap_remaining:
                    why = (
                        f"{cap_label}: worst case ${worst:.6f} ({est_input} prompt + {max_tokens} max output tokens)"
                        f" exceeds ${cap_remaining:.6f} left"
                    )
                    if probe:
                        health.abandon(hkey, True)
                    self.error = self._not_called(
                        pending,
                        hop_id,
                        alias,
                        model,
                        attempt,
                        why,
                        ErrorClass.COST_CAP,
                        price,
                        action=DecisionAction.REFUSE,
                    )
                    self.retry_next = False
                    continue

            temperature = target.temperature if target is not None and target.temperature is not None else None
            request = ChatRequest(
                model=model.model,
                messages=self._typed if messages is self.messages else coerce_messages(messages),
                system=self.system,
                max_tokens=max_tokens,
                temperature=temperature if temperature is not None else step.temperature,
                extra_headers=self.extra_headers,
                tools=self.tools,
                tool_choice=self.tool_choice,
                parallel_tool_calls=step.parallel_tool_calls,
            )
            pending.append(
                HopStarted(
                    run_id=run_id,
                    hop_id=hop_id,
                    parent_id=self.step_id,
                    kind=HopKind.ATTEMPT,
                    name=alias,
                    provider=model.provider,
                    model=alias,
                    model_id=model.model,
                    attempt=attempt,
                    target_index=index,
                )
            )
            # resolve() (and a provider's declared timeouts) fill every field; the models type them Optional only
            # because None there means inherit
            first_token, total = float(timeouts.first_token), float(timeouts.total)  # type: ignore[arg-type]
            capped, wall_limit = False, None
            if left is not None:
                usable = left - self._reserve(alias)  # what a fast fallback still needs stays free
                wall_limit = max(usable, 0.001)
                if usable < total:
                    capped, total = True, max(usable, 0.001)
                    first_token = min(first_token, total)
            health.begin(hkey)
            plan = AttemptPlan(
                run_id=run_id,
                hop_id=hop_id,
                parent_id=self.step_id,
                attempt=attempt,
                target_index=index,
                alias=alias,
                provider=model.provider,
                model_id=model.model,
                adapter=self.engine.adapter(model.provider),
                request=request,
                price=price,
                encoding=encoding,
                est_input_tokens=est_input,
                first_token_timeout=first_token,
                idle_timeout=timeouts.idle,  # type: ignore[arg-type]  # filled, as first_token above
                total_timeout=total,
                cap_remaining=cap_remaining,
                cap_label=cap_label,
                health_key=hkey,
                probe=probe,
                budget_capped=capped,
                wall_limit=wall_limit,
                run_state=self.state,
                echo=echo,
                fail_unsupported=step.unsupported_content == "fail",
            )
            self.attempted = True
            return pending, plan
        if not self.done:
            if not self.attempted and len(self.open_waits) == len(self.order) and self._queue(pending):
                return pending, None
            self.done = True
        return pending, None

    def finished(self) -> HopFinished:
        if self.status == "ok":
            self.error = None
        return HopFinished(
            run_id=self.state.run_id,
            hop_id=self.step_id,
            parent_id=self.parent_id,
            kind=HopKind.STEP,
            name=self.step.name,
            # self.status is a HopStatus value as a plain str, or "degraded" (a step hop ends error then)
            status="error" if self.status == "degraded" else self.status,  # type: ignore[arg-type]
            latency_ms=(time.monotonic() - self._t0) * 1000.0,
            error=self.error,
            reason=self.reason,
            output=self.text,
        )
