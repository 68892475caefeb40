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
from typing import TYPE_CHECKING

from workbench.accounting.prices import select_price
from workbench.accounting.usage import Usage, cost_of
from workbench.engine.attempt import AttemptOutcome, AttemptPlan, price_dict
from workbench.engine.events import Decision, Event, HopFinished, HopStarted
from workbench.profiles.resolve import resolve
from workbench.profiles.steps import GenerateStep
from workbench.profiles.templates import render
from workbench.providers.base import ChatRequest
from workbench.tokens import count_messages, encoding_for_model

if TYPE_CHECKING:
    from workbench.engine.context import RunContext
    from workbench.engine.run import Engine

ZERO = Decimal(0)


class RunState:
    """Running totals of a run: exact money, tokens, first token, and the run's cost cap."""

    __slots__ = ("run_id", "cap", "spent", "input_tokens", "output_tokens", "ttft_ms", "estimated", "_hops", "_t0")

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


class StepRunner:
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
        self.index = -1
        self.done = False
        self.status = "error"
        self.text = ""
        self.error: str | None = None
        self.reason: str | None = None
        self.today = dt.date.today()
        self._t0 = time.monotonic()
        # after a provider said "prompt too long" for a window of this size, smaller windows are not tried
        self.rejected_window: int | None = None

    def started(self) -> HopStarted:
        return HopStarted(
            run_id=self.state.run_id, hop_id=self.step_id, parent_id=self.parent_id, kind="step", name=self.step.name
        )

    def next_attempt(self) -> tuple[list[Event], AttemptPlan | None]:
        """Events to emit first (refusals by a cost cap), and the next call to make (None: no target left)."""
        pending: list[Event] = []
        state, step, run_id = self.state, self.step, self.state.run_id
        while self.index + 1 < len(step.targets):
            self.index += 1
            target = step.targets[self.index]
            alias = target.model
            model = self.profile.models[alias]
            policy = resolve(self.profile, self.route, self.path, self.index) if self.route else None
            timeouts = policy.timeouts if policy is not None else self.profile.providers[model.provider].timeouts
            encoding = model.tokenizer or encoding_for_model(model.model)
            wanted = target.max_output_tokens or step.max_output_tokens or model.max_output_tokens
            max_tokens = min(wanted, model.max_output_tokens)
            counted = ([{"role": "system", "content": self.system}] if self.system else []) + self.messages
            est_input = count_messages(counted, model=model.model, encoding=encoding)
            price = select_price(model.prices, self.today)
            hop_id = state.next_hop_id()

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
                pending.append(
                    HopFinished(
                        run_id=run_id,
                        hop_id=hop_id,
                        parent_id=self.step_id,
                        kind="attempt",
                        name=alias,
                        provider=model.provider,
                        model=alias,
                        model_id=model.model,
                        attempt=1,
                        target_index=self.index,
                        status="skipped",
                        reason=too_long,
                        error_class="context_window",
                        price=price_dict(price),
                    )
                )
                self.error = f"{alias} skipped: {too_long}"
                continue

            # Cost caps: reserve the worst case (whole prompt + max output) before the call.
            cap_remaining, cap_label = state.remaining(step.max_cost_usd, self.spent)
            if price is None and not model.free:
                # No price in force (a typo'd `effective` date, no prices): its cost cannot be known, so a cap
                # cannot bound it. Said each time the target is tried; refused when a cap is in force.
                why = f"{alias} has no price in force on {self.today}: its calls are costed at $0"
                refused = cap_remaining is not None
                why += f"; refused, since {cap_label} cannot bound it" if refused else " (declare `free: true`?)"
                pending.append(
                    Decision(
                        run_id=run_id,
                        hop_id=self.step_id,
                        action="price",
                        reason=why,
                        target=alias,
                        data={"model": alias, "date": str(self.today), "refused": refused},
                    )
                )
                if refused:
                    pending.append(
                        HopFinished(
                            run_id=run_id,
                            hop_id=hop_id,
                            parent_id=self.step_id,
                            kind="attempt",
                            name=alias,
                            provider=model.provider,
                            model=alias,
                            model_id=model.model,
                            attempt=1,
                            target_index=self.index,
                            status="skipped",
                            reason=why,
                            error_class="cost_cap",
                        )
                    )
                    self.error = why
                    continue
            if cap_remaining is not None and price is not None and not price.is_free:
                worst = cost_of(Usage(input_tokens=est_input, output_tokens=max_tokens), price).total
                if worst > cap_remaining:
                    why = (
                        f"{cap_label}: worst case ${worst:.6f} ({est_input} prompt + {max_tokens} max output tokens)"
                        f" exceeds ${cap_remaining:.6f} left"
                    )
                    pending.append(
                        Decision(
                            run_id=run_id,
                            hop_id=self.step_id,
                            action="refuse",
                            reason=f"{alias} refused: {why}",
                            target=alias,
                        )
                    )
                    pending.append(
                        HopFinished(
                            run_id=run_id,
                            hop_id=hop_id,
                            parent_id=self.step_id,
                            kind="attempt",
                            name=alias,
                            provider=model.provider,
                            model=alias,
                            model_id=model.model,
                            attempt=1,
                            target_index=self.index,
                            status="skipped",
                            reason=why,
                            error_class="cost_cap",
                            price=price_dict(price),
                        )
                    )
                    self.error = f"{alias} refused by {why}"
                    continue

            request = ChatRequest(
                model=model.model,
                messages=self.messages,
                system=self.system,
                max_tokens=max_tokens,
                temperature=target.temperature if target.temperature is not None else step.temperature,
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
                    attempt=1,
                    target_index=self.index,
                )
            )
            plan = AttemptPlan(
                run_id=run_id,
                hop_id=hop_id,
                parent_id=self.step_id,
                attempt=1,
                target_index=self.index,
                alias=alias,
                provider=model.provider,
                model_id=model.model,
                adapter=self.engine.adapter(model.provider),
                request=request,
                price=price,
                encoding=encoding,
                est_input_tokens=est_input,
                first_token_timeout=timeouts.first_token,  # type: ignore[arg-type]
                idle_timeout=timeouts.idle,  # type: ignore[arg-type]
                total_timeout=timeouts.total,  # type: ignore[arg-type]
                cap_remaining=cap_remaining,
                cap_label=cap_label,
            )
            return pending, plan
        self.done = True
        return pending, None

    def settle(self, plan: AttemptPlan, out: AttemptOutcome, finished: HopFinished) -> list[Event]:
        """Account for an attempt's outcome and decide: done, or fall back to the next target."""
        self.state.account(finished, out)
        self.spent += out.cost.total
        if out.status == "ok":
            self.status, self.text, self.done = "ok", out.text, True
            return []
        if out.status == "cancelled":
            # a tripped cost cap ends the step as an error (the budget is spent); a user cancel as cancelled
            self.status = "error" if out.cap_tripped else "cancelled"
            self.text, self.reason, self.error, self.done = out.text, out.reason, out.reason, True
            return []
        err = out.error
        self.error = str(err) if err else out.reason
        targets = self.step.targets
        next_alias = targets[self.index + 1].model if self.index + 1 < len(targets) else None
        run_id = self.state.run_id
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
        if err is not None and err.retryable and next_alias is not None:
            return [
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action="fallback",
                    target=next_alias,
                    reason=f"{plan.alias} failed ({err.kind}: {err.message}); falling back to {next_alias}",
                )
            ]
        self.done = True
        if err is not None and not err.retryable and next_alias is not None:
            return [
                Decision(
                    run_id=run_id,
                    hop_id=self.step_id,
                    action="stop",
                    target=None,
                    reason=f"{plan.alias} failed with a non-retryable {err.kind} error; not falling back",
                )
            ]
        return []

    def finished(self) -> HopFinished:
        if self.status == "ok":
            self.error = None
        return HopFinished(
            run_id=self.state.run_id,
            hop_id=self.step_id,
            parent_id=self.parent_id,
            kind="step",
            name=self.step.name,
            status=self.status,  # type: ignore[arg-type]
            latency_ms=(time.monotonic() - self._t0) * 1000.0,
            error=self.error,
            reason=self.reason,
            output=self.text,
        )
