"""What an attempt's outcome means for a generate step: done, retry the same target (after Retry-After or
backoff), a mid-stream failure restarted or continued, a fallback, a degraded end. `StepRunner` mixes it in;
it builds on `PolicyMixin` (step_policies.py), whose `RunnerFields` declare the runner attributes used here."""

from __future__ import annotations

import time

from workbench.engine import budget, health
from workbench.engine.attempt import AttemptOutcome, AttemptPlan
from workbench.engine.events import DecisionAction, ErrorClass, Event, HopFinished
from workbench.engine.retry import decide
from workbench.engine.step_policies import PolicyMixin
from workbench.profiles.resolve import Resolved
from workbench.tokens import count_text


class SettleMixin(PolicyMixin):
    """`settle` and its helpers for `StepRunner` (its attributes are set in its __init__)."""

    def abandon(self, plan: AttemptPlan) -> None:
        """The attempt never settled (its run was torn down): free its place in the target's health."""
        health.abandon(plan.health_key, plan.probe)

    def settle(
        self, plan: AttemptPlan, out: AttemptOutcome, finished: HopFinished, *, racing: bool = False
    ) -> list[Event]:
        """Account for an attempt's outcome and decide: done, retry the target, or fall back to the next one.
        `racing`: a hedge race is still on (another attempt runs): a failure is recorded, nothing decided."""
        self.state.account(finished, out)
        self.spent += out.cost.total
        err = out.error
        policy = self._policy(plan.target_index)
        out_of_time = plan.budget_capped and err is not None and err.kind == ErrorClass.TIMEOUT
        overloaded = err is not None and err.kind == ErrorClass.CLIENT_OVERLOADED
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
            if out.repeated_chars:
                data: dict[str, object] = {"policy": "continue", "repeated_chars": out.repeated_chars}
                how = "the repeat was dropped, not added to the answer twice"
                if out.repeat_diverged:  # it restarted the answer, then went on differently
                    data["diverged"] = True
                    how = (
                        "then went on differently; the repeated lines were dropped and the rest starts a new paragraph"
                    )
                return [
                    self._decide(
                        action=DecisionAction.STREAM,
                        target=plan.alias,
                        reason=f"{plan.alias}'s continuation began by repeating {out.repeated_chars} chars already"
                        f" kept; {how}",
                        data=data,
                    )
                ]
            return []
        if len(self.prefix + out.text) > len(self.best):
            self.best = self.prefix + out.text
        if out.status == "cancelled":
            # a tripped cost cap ends the step as an error (the budget is spent); a user cancel as cancelled
            self.status = "error" if out.cap_tripped else "cancelled"
            self.text, self.reason, self.error, self.done = self.prefix + out.text, out.reason, out.reason, True
            if out.cap_tripped:  # the cap changed what happened: say so where decisions are read
                return [
                    self._decide(
                        action=DecisionAction.CAP,
                        target=plan.alias,
                        reason=f"{plan.alias} stopped mid-stream: {out.reason}; the step ends here, no fallback",
                        data={
                            "cap": plan.cap_label,
                            "left_usd": str(plan.cap_remaining),
                            "cost_usd": str(out.cost.total),
                        },
                    )
                ]
            return []
        self.error = str(err) if err else out.reason
        run_id = self.state.run_id
        if out_of_time:
            fast = self._fast_index()
            left = (self.deadline or 0.0) - time.monotonic()
            if fast is not None and left > 0:
                self.jump_to, self.fast_tried = fast, True
                return [
                    self._decide(
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
                self._decide(
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
                self._decide(
                    action=DecisionAction.FALLBACK,
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
                self._decide(
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
                self._decide(
                    action=DecisionAction.FALLBACK,
                    target=next_alias,
                    reason=f"{plan.alias} failed ({err.kind}: {err.message}); falling back to {next_alias}{note}",
                    data={"error_class": err.kind, "not_retried": why_not} if why_not else {"error_class": err.kind},
                )
            )
            return events
        self.done = True
        if err is not None and not err.retryable and next_alias is not None:
            return events + [
                self._decide(
                    action=DecisionAction.STOP,
                    target=None,
                    reason=f"{plan.alias} failed with a non-retryable {err.kind} error; not falling back",
                )
            ]
        if why_not:
            return events + [
                self._decide(
                    action=DecisionAction.STOP,
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
                self._decide(
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
            self._decide(
                action=DecisionAction.STREAM,
                target=plan.alias,
                reason=f"{plan.alias}'s stream broke after {chars} chars; discarded, the next call starts clean",
                data={"policy": "restart", "discarded_chars": discarded, "discarded_tokens": tokens},
            )
        ]
