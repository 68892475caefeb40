"""A `generate` step's policy: which target to try next, cost caps before the call, fallbacks after it.

`StepRunner` is plain synchronous policy; `workbench.engine.generate.generate_step` drives it and streams each
attempt through `run_attempt`. Keeping the policy out of the generator chain keeps the per-token path short.
Retries with Retry-After, breakers, balancing and budgets plug in here: `next_attempt` decides what to call,
`settle` decides what an outcome means. Policies in force come from `workbench.profiles.resolve`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from workbench.accounting.prices import select_price
from workbench.accounting.usage import Usage, cost_of
from workbench.engine import balance, budget, health
from workbench.engine.attempt import AttemptOutcome, AttemptPlan, price_dict
from workbench.engine.events import Decision, DecisionAction, Event, HopFinished, HopStarted
from workbench.engine.retry import decide
from workbench.profiles.resolve import Resolved, resolve
from workbench.profiles.steps import GenerateStep
from workbench.profiles.templates import render
from workbench.providers.base import ChatRequest
from workbench.tokens import count_messages, count_text, encoding_for_model

if TYPE_CHECKING:
    from workbench.engine.context import RunContext
    from workbench.engine.run import Engine

ZERO = Decimal(0)
#: a run waits for open breakers at most this many times per step (each wait bounded by the breaker's open period)
MAX_QUEUE_ROUNDS = 5
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
    )

    def __init__(self, run_id: str, cap: Decimal | None, t0: float | None = None) -> None:
        self.run_id = run_id
        self.cap = cap
        self.spent = ZERO
        self.input_tokens = 0
        self.output_tokens = 0
        self.ttft_ms: float | None = None
        self.estimated = False
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


class _StepPolicies:
    """Everything a step's policies say, resolved once per (profile, route, step): not per hop."""

    __slots__ = ("profile", "step", "targets", "run_ms", "step_ms")

    def __init__(self, profile: Any, route: str, path: tuple[str | int, ...], step: GenerateStep) -> None:
        self.profile = profile
        self.step = resolve(profile, route, path, None)
        self.targets = [resolve(profile, route, path, j) for j in range(len(step.targets))]
        self.run_ms = budget.run_budget_ms(profile, route)
        self.step_ms = budget.step_budget_ms(self.step, route)


_STEP_POLICIES: dict[tuple[int, str, tuple[str | int, ...]], _StepPolicies] = {}


def _step_policies(profile: Any, route: str, path: tuple[str | int, ...], step: GenerateStep) -> _StepPolicies:
    key = (id(profile), route, path)
    hit = _STEP_POLICIES.get(key)
    if hit is not None and hit.profile is profile:
        return hit
    if len(_STEP_POLICIES) > 4096:  # profiles come and go (the TUI reloads): keep the cache bounded
        _STEP_POLICIES.clear()
    hit = _STEP_POLICIES[key] = _StepPolicies(profile, route, path, step)
    return hit


class StepRunner:
    """One generate step's policy: targets in order, retries on each, breakers, budgets and caps."""

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
    ) -> None:
        self.engine = engine
        self.profile = engine.profile
        self.state = state
        self.step = step
        self.route = route
        self.path = path
        self.parent_id = parent_id
        variables = ctx.template_vars()
        text = render(step.prompt, variables) if step.prompt else ctx.last_output
        self.system = render(step.system, variables) if step.system else None
        self.messages = [*(ctx.history if step.history else []), {"role": "user", "content": text}]
        self.extra_headers = dict(extra_headers) if extra_headers else {}
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
        pol = self.pol = _step_policies(self.profile, route, path, step) if route else None
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
        self.order: list[int] = list(range(len(step.targets)))
        self.pending: list[Event] = []
        strategy = self.step_policy.balance.strategy if self.step_policy is not None else "none"
        if strategy not in (None, "none") and len(step.targets) > 1:
            self._balance(str(strategy))
        self.fast_alias: str | None = fast

    def _balance(self, strategy: str) -> None:
        assert self.step_policy is not None
        seed = self.step_policy.balance.seed
        path = ".".join(map(str, self.path))
        self.order, figures = balance.order(
            strategy, self.step.targets, self.profile, seed=seed, run_id=self.state.run_id, path=path
        )
        names = [self.step.targets[j].model for j in self.order]
        self.pending.append(
            Decision(
                run_id=self.state.run_id,
                hop_id=self.step_id,
                action=DecisionAction.BALANCE,
                target=names[0],
                reason=f"{strategy} balancing: trying {', '.join(names)} in that order",
                data={"strategy": strategy, "order": names, "by": figures},
            )
        )

    # -- targets --------------------------------------------------------------------------------------------
    def _alias(self, index: int) -> str:
        targets = self.step.targets
        return targets[index].model if index < len(targets) else self.fast_alias  # type: ignore[return-value]

    def _policy(self, index: int) -> Resolved | None:
        pol = self.pol
        if pol is None:
            return None
        return pol.targets[index] if index < len(pol.targets) else pol.step

    def _next_index(self) -> int | None:
        order = self.order
        if self.jump_to is not None:
            index, self.jump_to = self.jump_to, None
            self.pos = order.index(index) if index in order else len(order)
            return index
        if self.pos + 1 < len(order):
            self.pos += 1
            return order[self.pos]
        return None

    def _fast_index(self) -> int | None:
        """Where the budget's fast fallback sits (an index past the chain when it is not one of the targets)."""
        if self.fast_alias is None or self.fast_tried:
            return None
        for j, t in enumerate(self.step.targets):
            if t.model == self.fast_alias:
                return j if j in self.order[self.pos + 1 :] else None
        return len(self.step.targets)

    def started(self) -> HopStarted:
        return HopStarted(
            run_id=self.state.run_id, hop_id=self.step_id, parent_id=self.parent_id, kind="step", name=self.step.name
        )

    def _skipped(
        self, hop_id: str, alias: str, model: Any, attempt: int, why: str, cls: str, price: Any
    ) -> HopFinished:
        return HopFinished(
            run_id=self.state.run_id,
            hop_id=hop_id,
            parent_id=self.step_id,
            kind="attempt",
            name=alias,
            provider=model.provider,
            model=alias,
            model_id=model.model,
            attempt=attempt,
            target_index=self.index,
            status="skipped",
            reason=why,
            error_class=cls,
            price=price_dict(price),
        )

    def _degrade(self, why: str) -> list[Event]:
        """End the step degraded: out of time, with the best answer so far."""
        self.done, self.status, self.reason = True, "degraded", why
        self.text = self.best
        self.error = why
        return [
            Decision(
                run_id=self.state.run_id,
                hop_id=self.step_id,
                action=DecisionAction.DEGRADE,
                reason=f"{why}; ending with the best answer so far ({len(self.best)} chars)",
                data={"budget_ms": self._budget_ms(), "best_chars": len(self.best)},
            )
        ]

    def _reserve(self, alias: str) -> float:
        """Seconds of the budget kept for the fast fallback while another target is called: its recent latency,
        or when never measured its first-token timeout, at most half the step's budget."""
        fast = self._fast_index()
        if fast is None or self.deadline is None or self._alias(fast) == alias:
            return 0.0
        model = self.profile.models[self.fast_alias]  # type: ignore[index]
        expected = budget.expected_s(health.key(model.provider, model.model))
        if not expected:
            policy = self._policy(fast)
            expected = float(policy.timeouts.first_token) if policy is not None else 0.0  # type: ignore[arg-type]
        return min(expected, (self.deadline - self._t0) / 2)

    def _budget_ms(self) -> float | None:
        return None if self.deadline is None else round((self.deadline - self._t0) * 1000.0, 3)

    def _out_of_time(self, alias: str, needed: float, left: float) -> tuple[list[Event], bool]:
        """The budget cannot cover a call to `alias`: go to the fast fallback (True) or degrade (False)."""
        fast = self._fast_index()
        what = f"{left * 1000:.0f} ms left of the latency budget cannot cover {alias} (~{needed * 1000:.0f} ms)"
        if fast is not None and self._alias(fast) != alias:
            self.jump_to, self.fast_tried = fast, True
            return [
                Decision(
                    run_id=self.state.run_id,
                    hop_id=self.step_id,
                    action=DecisionAction.BUDGET,
                    target=self.fast_alias,
                    reason=f"{what}; going to the fast fallback {self.fast_alias}",
                    data={"left_ms": round(left * 1000, 3), "expected_ms": round(needed * 1000, 3)},
                )
            ], True
        return self._degrade(what), False

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
            wanted = (target.max_output_tokens if target else None) or step.max_output_tokens or model.max_output_tokens
            max_tokens = min(wanted, model.max_output_tokens)
            messages = self.messages
            if self.prefix:
                messages = [*messages, {"role": "assistant", "content": self.prefix}]
                if self.profile.providers[model.provider].wire_format != "anthropic":
                    # OpenAI-wire servers do not continue a trailing assistant message by themselves: ask
                    messages.append({"role": "user", "content": CONTINUE_INSTRUCTION})
            counted = ([{"role": "system", "content": self.system}] if self.system else []) + messages
            est_input = count_messages(counted, model=model.model, encoding=encoding)
            price = select_price(model.prices, self.today)
            hop_id = state.next_hop_id()
            hkey = health.key(model.provider, model.model)

            # Context windows: never call a model that cannot take the prompt (FIELD-NOTES hard case 20).
            too_long = None
            if est_input > model.context_window:
                too_long = f"the prompt is ~{est_input} tokens, over {alias}'s context window of {model.context_window}"
            elif self.rejected_window is not None and model.context_window <= self.rejected_window:
                too_long = (
                    f"{alias}'s context window ({model.context_window}) is no larger than one that already"
                    f" rejected the prompt ({self.rejected_window})"
                )
            if too_long is not None:
                pending.append(
                    Decision(
                        run_id=run_id,
                        hop_id=self.step_id,
                        action="skip",
                        reason=f"{alias} skipped: {too_long}",
                        target=alias,
                    )
                )
                pending.append(self._skipped(hop_id, alias, model, attempt, too_long, "context_window", price))
                self.error = f"{alias} skipped: {too_long}"
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
                    pending.append(
                        Decision(
                            run_id=run_id,
                            hop_id=self.step_id,
                            action=DecisionAction.SKIP,
                            reason=f"{alias} skipped: {why}",
                            target=alias,
                            data=data,
                        )
                    )
                    pending.append(self._skipped(hop_id, alias, model, attempt, why, "breaker", price))
                    self.error = f"{alias} skipped: {why}"
                    self.retry_next = False
                    self.open_waits.append(float(data.get("open_for_s", 0.0)))
                    continue
                probe = verdict == "probe"

            # Cost caps: reserve the worst case (whole prompt + max output) before the call.
            cap_remaining, cap_label = state.remaining(step.max_cost_usd, self.spent)
            if cap_remaining is not None and price is not None and not price.is_free:
                worst = cost_of(Usage(input_tokens=est_input, output_tokens=max_tokens), price).total
                if worst > cap_remaining:
                    why = (
                        f"{cap_label}: worst case ${worst:.6f} ({est_input} prompt + {max_tokens} max output tokens)"
                        f" exceeds ${cap_remaining:.6f} left"
                    )
                    if probe:
                        health.abandon(hkey, True)
                    pending.append(
                        Decision(
                            run_id=run_id,
                            hop_id=self.step_id,
                            action="refuse",
                            reason=f"{alias} refused: {why}",
                            target=alias,
                        )
                    )
                    pending.append(self._skipped(hop_id, alias, model, attempt, why, "cost_cap", price))
                    self.error = f"{alias} refused by {why}"
                    self.retry_next = False
                    continue

            temperature = target.temperature if target is not None and target.temperature is not None else None
            request = ChatRequest(
                model=model.model,
                messages=messages,
                system=self.system,
                max_tokens=max_tokens,
                temperature=temperature if temperature is not None else step.temperature,
                extra_headers=self.extra_headers,
            )
            pending.append(
                HopStarted(
                    run_id=run_id,
                    hop_id=hop_id,
                    parent_id=self.step_id,
                    kind="attempt",
                    name=alias,
                    provider=model.provider,
                    model=alias,
                    model_id=model.model,
                    attempt=attempt,
                    target_index=index,
                )
            )
            first_token, total = float(timeouts.first_token), float(timeouts.total)  # type: ignore[arg-type]
            capped = False
            if left is not None:
                usable = left - self._reserve(alias)  # what a fast fallback still needs stays free
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
                idle_timeout=timeouts.idle,  # type: ignore[arg-type]
                total_timeout=total,
                cap_remaining=cap_remaining,
                cap_label=cap_label,
                health_key=hkey,
                probe=probe,
                budget_capped=capped,
            )
            self.attempted = True
            return pending, plan
        if not self.done:
            if not self.attempted and len(self.open_waits) == len(self.order) and self._queue(pending):
                return pending, None
            self.done = True
        return pending, None

    def _queue(self, pending: list[Event]) -> bool:
        """Every target's breaker is open: wait in the route's bounded queue for the first to half-open (True),
        or say why not (False: the step ends)."""
        policy = self.step_policy
        if policy is None or not policy.queue.enabled or self.queue_rounds >= MAX_QUEUE_ROUNDS:
            return False
        wait = max(min(self.open_waits), 0.05)
        run_id = self.state.run_id
        if self.deadline is not None and wait > self.deadline - time.monotonic():
            self.error = f"every target's circuit is open and the next opens in {wait:g}s, after the latency budget"
            pending.append(
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action=DecisionAction.QUEUE,
                    reason=self.error,
                    data={"wait_s": wait, "rejected": "budget"},
                )
            )
            return False
        position = health.queue_join(self.route, int(policy.queue.max_waiting))  # type: ignore[arg-type]
        if position is None:
            self.error = f"every target's circuit is open and route {self.route!r}'s queue is full"
            self.error += f" ({policy.queue.max_waiting} waiting)"
            pending.append(
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action=DecisionAction.QUEUE,
                    reason=self.error,
                    data={"rejected": "full", "max_waiting": policy.queue.max_waiting},
                )
            )
            return False
        self.queue_rounds += 1
        self.queue_wait = wait
        pending.append(
            Decision(
                run_id=run_id,
                hop_id=self.step_id,
                action=DecisionAction.QUEUE,
                reason=f"every target's circuit is open; waiting {wait:.3g}s in route {self.route!r}'s queue"
                f" (position {position}) for the first to take a probe call",
                data={"wait_s": wait, "position": position, "round": self.queue_rounds},
            )
        )
        return True

    def requeue(self) -> None:
        """After a queue wait: try the targets again from the first (their breakers are due to half-open)."""
        health.queue_leave(self.route)
        self.queue_wait = 0.0
        self.pos = self.index = -1
        self.open_waits = []

    def abandon(self, plan: AttemptPlan) -> None:
        """The attempt never settled (its run was torn down): free its place in the target's health."""
        health.abandon(plan.health_key, plan.probe)

    def hedge_after(self, plan: AttemptPlan) -> float | None:
        """Seconds without a first token after which a hedge starts the next target (None: no hedge)."""
        policy = self._policy(plan.target_index)
        if policy is None or policy.hedge.after_ms is None or self.pos + 1 >= len(self.order):
            return None
        return float(policy.hedge.after_ms) / 1000.0

    def settle(
        self, plan: AttemptPlan, out: AttemptOutcome, finished: HopFinished, *, racing: bool = False
    ) -> list[Event]:
        """Account for an attempt's outcome and decide: done, retry the target, or fall back to the next one.
        `racing`: a hedge race is still on (another attempt runs): a failure is recorded, nothing decided."""
        self.state.account(finished, out)
        self.spent += out.cost.total
        err = out.error
        policy = self._policy(plan.target_index)
        out_of_time = plan.budget_capped and err is not None and err.kind == "timeout"
        overloaded = err is not None and err.kind == "client_overloaded"
        counts = err is not None and err.retryable and not out_of_time and not overloaded
        if out.status == "superseded":
            health.abandon(plan.health_key, plan.probe)
            return []
        if racing and out.status != "ok":
            if policy is not None:
                health.end(plan.health_key, policy.breaker, ok=False, counts=counts, latency_ms=None, probe=plan.probe)
            self.error = str(err) if err else out.reason
            return []
        if policy is not None:
            health.end(
                plan.health_key,
                policy.breaker,
                ok=out.status == "ok",
                counts=counts,
                latency_ms=finished.latency_ms,
                probe=plan.probe,
            )
        else:
            health.abandon(plan.health_key, plan.probe)
        if out.status == "ok":
            self.status, self.text, self.done = "ok", self.prefix + out.text, True
            return []
        if len(self.prefix + out.text) > len(self.best):
            self.best = self.prefix + out.text
        if out.status == "cancelled":
            # a tripped cost cap ends the step as an error (the budget is spent); a user cancel as cancelled
            self.status = "error" if out.cap_tripped else "cancelled"
            self.text, self.reason, self.error, self.done = self.prefix + out.text, out.reason, out.reason, True
            return []
        self.error = str(err) if err else out.reason
        run_id = self.state.run_id
        if out_of_time:
            fast = self._fast_index()
            left = (self.deadline or 0.0) - time.monotonic()
            if fast is not None and left > 0:
                self.jump_to, self.fast_tried = fast, True
                return [
                    Decision(
                        run_id=run_id,
                        hop_id=self.step_id,
                        action=DecisionAction.BUDGET,
                        target=self.fast_alias,
                        reason=f"{plan.alias} was cut to keep {left * 1000:.0f} ms of the latency budget for the fast"
                        f" fallback {self.fast_alias}",
                        data={"left_ms": round(left * 1000, 3), "cut": plan.alias},
                    )
                ]
            return self._degrade(f"the latency budget of {self._budget_ms():g} ms ran out during {plan.alias}")
        targets = self.step.targets
        fast = self._fast_index()
        nxt = self.order[self.pos + 1] if self.pos + 1 < len(self.order) else len(targets)
        next_alias = targets[nxt].model if nxt < len(targets) else (self.fast_alias if fast is not None else None)
        events: list[Event] = []
        if overloaded:
            assert err is not None
            events.append(
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action=DecisionAction.OVERLOAD,
                    target=plan.alias,
                    reason=f"{plan.alias}'s timeout is ours, not the provider's: {err.message}; not counted against"
                    " its breaker",
                    data={"error_class": "client_overloaded"},
                )
            )
        if err is not None and err.kind == "context_window" and next_alias is not None:
            # not retryable as such, but a model with a larger window may take the prompt
            self.rejected_window = self.profile.models[plan.alias].context_window
            return [
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action="fallback",
                    target=next_alias,
                    reason=f"{plan.alias} rejected the prompt as too long ({err.message}); trying a larger"
                    f" context window",
                )
            ]
        seed = f"{run_id}|{'.'.join(map(str, self.path))}|{plan.target_index}|{plan.attempt}"
        verdict = decide(policy, err, plan.attempt, has_next=next_alias is not None, seed=seed)
        why_not = verdict.why_not
        if verdict.retry and self.deadline is not None:
            left = self.deadline - time.monotonic()
            needed = verdict.wait_s + budget.expected_s(plan.health_key)
            if needed > left:
                why_not = (
                    f"a retry after {verdict.wait_s:.3g}s would not finish in the {max(left, 0) * 1000:.0f} ms left"
                    " of the latency budget"
                )
                verdict.retry = False
        if err is not None and err.retryable and (verdict.retry or next_alias is not None):
            events.extend(self._stream_policy(plan, out, policy))
        if verdict.retry:
            self.retry_next, self.wait_s = True, verdict.wait_s
            where = "the provider's Retry-After" if verdict.source == "retry_after" else "backoff with full jitter"
            assert err is not None
            events.append(
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action=DecisionAction.RETRY,
                    target=plan.alias,
                    reason=f"{plan.alias} failed ({err.kind}); retrying in {verdict.wait_s:.3g}s ({where}), attempt"
                    f" {plan.attempt + 1}",
                    data={
                        "wait_s": round(verdict.wait_s, 6),
                        "wait_source": verdict.source,
                        "error_class": err.kind,
                        "attempt": plan.attempt + 1,
                    },
                )
            )
            return events
        if err is not None and err.retryable and next_alias is not None:
            if nxt >= len(targets):
                self.jump_to, self.fast_tried = fast, True
            note = f"; not retried: {why_not}" if why_not else ""
            events.append(
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action="fallback",
                    target=next_alias,
                    reason=f"{plan.alias} failed ({err.kind}: {err.message}); falling back to {next_alias}{note}",
                    data={"error_class": err.kind, "not_retried": why_not} if why_not else {"error_class": err.kind},
                )
            )
            return events
        self.done = True
        if err is not None and not err.retryable and next_alias is not None:
            return events + [
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action="stop",
                    target=None,
                    reason=f"{plan.alias} failed with a non-retryable {err.kind} error; not falling back",
                )
            ]
        if why_not:
            return events + [
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action="stop",
                    target=None,
                    reason=f"{plan.alias} failed ({err.kind if err else 'error'}); not retried: {why_not}",
                    data={"not_retried": why_not},
                )
            ]
        return events

    def _stream_policy(self, plan: AttemptPlan, out: AttemptOutcome, policy: Resolved | None) -> list[Event]:
        """A stream broken after some text: discard it (restart) or keep it for the next call to continue."""
        if not out.text:
            return []
        mode = policy.on_stream_failure if policy is not None else "restart"
        chars = len(out.text)
        tokens = count_text(out.text, plan.encoding)
        if mode == "continue":
            self.prefix += out.text
            return [
                Decision(
                    run_id=self.state.run_id,
                    hop_id=self.step_id,
                    action=DecisionAction.STREAM,
                    target=plan.alias,
                    reason=f"{plan.alias}'s stream broke after {chars} chars; the next call continues from them",
                    data={
                        "policy": "continue",
                        "kept_chars": chars,
                        "kept_tokens": tokens,
                        "prefix_chars": len(self.prefix),
                    },
                )
            ]
        discarded = len(self.prefix) + chars
        self.prefix = ""
        return [
            Decision(
                run_id=self.state.run_id,
                hop_id=self.step_id,
                action=DecisionAction.STREAM,
                target=plan.alias,
                reason=f"{plan.alias}'s stream broke after {chars} chars; discarded, the next call starts clean",
                data={"policy": "restart", "discarded_chars": discarded, "discarded_tokens": tokens},
            )
        ]

    def finished(self) -> HopFinished:
        if self.status == "ok":
            self.error = None
        return HopFinished(
            run_id=self.state.run_id,
            hop_id=self.step_id,
            parent_id=self.parent_id,
            kind="step",
            name=self.step.name,
            status="error" if self.status == "degraded" else self.status,  # type: ignore[arg-type]
            latency_ms=(time.monotonic() - self._t0) * 1000.0,
            error=self.error,
            reason=self.reason,
            output=self.text,
        )
