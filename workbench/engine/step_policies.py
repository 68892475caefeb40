"""A generate step's resilience policies, resolved once per step: target order (balancing), budgets and fast
fallbacks, the outage queue and hedging thresholds. `StepRunner` (step.py) mixes `PolicyMixin` in, through
`SettleMixin` (settle.py); `RunnerFields` declares the runner attributes both mixins use."""

from __future__ import annotations

import datetime as dt
import time
import weakref
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from workbench.engine import balance, budget, health
from workbench.engine.attempt import AttemptPlan
from workbench.engine.events import Decision, DecisionAction, Event
from workbench.profiles.resolve import Resolved, resolve
from workbench.profiles.steps import GenerateStep

if TYPE_CHECKING:
    from workbench.engine.run import Engine
    from workbench.engine.step import RunState
    from workbench.profiles.models import Profile

#: a run waits for open breakers at most this many times per step (each wait bounded by the breaker's open period)
MAX_QUEUE_ROUNDS = 5


class StepPolicies:
    """Everything a step's policies say, resolved once per (profile, route, step): not per hop."""

    __slots__ = ("profile", "step", "targets", "run_ms", "step_ms")

    def __init__(
        self, profile: Any, route: str, path: tuple[str | int, ...], step: GenerateStep, on_drop: Any = None
    ) -> None:
        # weakly: a cache entry must not keep a profile alive after its engine is gone (a TUI that reloads its
        # profile made a new one per edit, each kept here); when the profile dies, its entry goes too
        self.profile = weakref.ref(profile, on_drop)
        self.step = resolve(profile, route, path, None)
        self.targets = [resolve(profile, route, path, j) for j in range(len(step.targets))]
        self.run_ms = budget.run_budget_ms(profile, route)
        self.step_ms = budget.step_budget_ms(self.step, route)


_STEP_POLICIES: dict[tuple[int, str, tuple[str | int, ...]], StepPolicies] = {}


def step_policies(profile: Any, route: str, path: tuple[str | int, ...], step: GenerateStep) -> StepPolicies:
    key = (id(profile), route, path)
    hit = _STEP_POLICIES.get(key)
    if hit is not None and hit.profile() is profile:
        return hit
    if len(_STEP_POLICIES) > 4096:  # many profiles alive at once, or routes made up on the fly: stay bounded
        _STEP_POLICIES.clear()
    hit = _STEP_POLICIES[key] = StepPolicies(profile, route, path, step, lambda _: _STEP_POLICIES.pop(key, None))
    return hit


class RunnerFields:
    """The attributes of `StepRunner` that its policy mixins read and write, declared for the type checker only
    (annotations, no values: `StepRunner.__init__` sets every one of them; see there for what each means)."""

    engine: Engine
    profile: Profile
    state: RunState
    step: GenerateStep
    route: str
    path: tuple[str | int, ...]
    step_id: str
    spent: Decimal
    index: int
    pos: int
    done: bool
    status: str
    text: str
    error: str | None
    reason: str | None
    today: dt.date
    _t0: float
    rejected_window: int | None
    retry_next: bool
    wait_s: float
    prefix: str
    best: str
    jump_to: int | None
    fast_tried: bool
    open_waits: list[float]
    queue_wait: float
    queue_rounds: int
    pol: StepPolicies | None
    step_policy: Resolved | None
    deadline: float | None
    order: list[int]
    pending: list[Event]
    fast_alias: str | None


class PolicyMixin(RunnerFields):
    """Budget, balance, queue and hedge decisions of `StepRunner` (its attributes are set in its __init__)."""

    def _decide(
        self,
        *,
        action: DecisionAction,
        reason: str,
        target: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Decision:
        """A decision of this step, under its step hop."""
        return Decision(
            run_id=self.state.run_id, hop_id=self.step_id, action=action, reason=reason, target=target, data=data
        )

    def _balance(self, strategy: str) -> None:
        assert self.step_policy is not None
        seed = self.step_policy.balance.seed
        path = ".".join(map(str, self.path))
        pool = self.order  # the callable targets (governance may have refused some), in profile order
        ranked, figures = balance.order(
            strategy, [self.step.targets[j] for j in pool], self.profile, seed=seed, run_id=self.state.run_id, path=path
        )
        self.order = [pool[k] for k in ranked]
        names = [self.step.targets[j].model for j in self.order]
        self.pending.append(
            self._decide(
                action=DecisionAction.BALANCE,
                target=names[0],
                reason=f"{strategy} balancing: trying {', '.join(names)} in that order",
                data={"strategy": strategy, "order": names, "by": figures},
            )
        )

    # -- targets --------------------------------------------------------------------------------------------
    def _alias(self, index: int) -> str:
        targets = self.step.targets
        if index < len(targets):
            return targets[index].model
        # an index past the chain comes only from `_fast_index`, which gives one only with a fast fallback set
        assert self.fast_alias is not None
        return self.fast_alias

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

    def _degrade(self, why: str) -> list[Event]:
        """End the step degraded: out of time, with the best answer so far."""
        self.done, self.status, self.reason = True, "degraded", why
        self.text = self.best
        self.error = why
        return [
            self._decide(
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
        model = self.profile.models[self._alias(fast)]  # the fast fallback's model (`fast` is its index)
        expected = budget.expected_s(health.key(model.provider, model.model))
        if not expected:
            policy = self._policy(fast)
            # resolve() fills every policy field; the models type them Optional only because None means inherit
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
                self._decide(
                    action=DecisionAction.BUDGET,
                    target=self.fast_alias,
                    reason=f"{what}; going to the fast fallback {self.fast_alias}",
                    data={"left_ms": round(left * 1000, 3), "expected_ms": round(needed * 1000, 3)},
                )
            ], True
        return self._degrade(what), False

    def _queue(self, pending: list[Event]) -> bool:
        """Every target's breaker is open: wait in the route's bounded queue for the first to half-open (True),
        or say why not (False: the step ends)."""
        policy = self.step_policy
        if policy is None or not policy.queue.enabled or self.queue_rounds >= MAX_QUEUE_ROUNDS:
            return False
        wait = max(min(self.open_waits), 0.05)
        if self.deadline is not None and wait > self.deadline - time.monotonic():
            self.error = f"every target's circuit is open and the next opens in {wait:g}s, after the latency budget"
            pending.append(
                self._decide(
                    action=DecisionAction.QUEUE,
                    reason=self.error,
                    data={"wait_s": wait, "rejected": "budget"},
                )
            )
            return False
        # resolve() fills every policy field (Optional in the model only because None there means inherit)
        position = health.queue_join(self.route, int(policy.queue.max_waiting))  # type: ignore[arg-type]
        if position is None:
            self.error = f"every target's circuit is open and route {self.route!r}'s queue is full"
            self.error += f" ({policy.queue.max_waiting} waiting)"
            pending.append(
                self._decide(
                    action=DecisionAction.QUEUE,
                    reason=self.error,
                    data={"rejected": "full", "max_waiting": policy.queue.max_waiting},
                )
            )
            return False
        self.queue_rounds += 1
        self.queue_wait = wait
        pending.append(
            self._decide(
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

    def hedge_after(self, plan: AttemptPlan) -> float | None:
        """Seconds without a first token after which a hedge starts the next target (None: no hedge)."""
        policy = self._policy(plan.target_index)
        if policy is None or policy.hedge.after_ms is None or self.pos + 1 >= len(self.order):
            return None
        return float(policy.hedge.after_ms) / 1000.0
