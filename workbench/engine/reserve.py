"""Worst-case costs, reserved against a cost cap before money is committed.

A run reserves before each call: the whole prompt plus the most output the call may produce, priced at the
target's price in force (`worst_call_cost`); a call whose worst case does not fit what is left under the cap is
refused (step.py). An eval reserves the same way one level up, before each case: `run_worst_case` adds up, over
a route's steps, the dearest call each step may make, so an eval starts a case only while what it has spent plus
what its cases in flight may still spend stays under its cap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from workbench.accounting.prices import Price, select_price
from workbench.accounting.usage import Usage, cost_of
from workbench.profiles.steps import ParallelStep, step_targets
from workbench.tokens import count_messages, encoding_for_model

ZERO = Decimal(0)


def output_allowance(model: Any, step_max: int | None, target_max: int | None) -> int:
    """The most output tokens a call may ask for: the target's own limit, else the step's, else the model's,
    never above the model's."""
    wanted: int = target_max or step_max or model.max_output_tokens
    return min(wanted, int(model.max_output_tokens))


def worst_call_cost(input_tokens: int, max_tokens: int, price: Price | None) -> Decimal:
    """What a call costs at most: `input_tokens` of prompt and `max_tokens` of output at `price` ($0 unpriced)."""
    return cost_of(Usage(input_tokens=input_tokens, output_tokens=max_tokens), price).total


def run_worst_case(
    profile: Any,
    route: str,
    prompt: str,
    history: Sequence[Mapping[str, str]] = (),
    today: dt.date | None = None,
) -> Decimal:
    """An estimate of the most one run of `prompt` through `route` may cost: for every step (every branch
    counted), the dearest single call among the models it may call (each of a parallel step's targets); each
    call's prompt is the run's messages and step system prompt plus the output every earlier step may have
    produced. Retries and fallbacks after a failed call are not counted: a failed call rarely costs its worst."""
    day = today or dt.date.today()
    cfg = profile.routes[route]
    base = [*history, {"role": "user", "content": prompt}]
    carried = 0  # output tokens earlier steps may add to later prompts
    total = ZERO
    for _, step in cfg.all_steps():
        step_max = getattr(step, "max_output_tokens", None)
        system = getattr(step, "system", None) or ""
        targets = {t.model: t for t in getattr(step, "targets", None) or ()}
        costs: list[Decimal] = []
        outputs: list[int] = []
        for alias in step_targets(step):
            model = profile.models[alias]
            target = targets.get(alias)
            limit = output_allowance(model, step_max, getattr(target, "max_output_tokens", None))
            messages = ([{"role": "system", "content": system}] if system else []) + base
            encoding = model.tokenizer or encoding_for_model(model.model)
            tokens = count_messages(messages, model=model.model, encoding=encoding) + carried
            costs.append(worst_call_cost(tokens, limit, select_price(model.prices, day)))
            outputs.append(limit)
        if not costs:
            continue
        if isinstance(step, ParallelStep):
            total += sum(costs, ZERO)
            carried += sum(outputs)
        else:
            total += max(costs)
            carried += max(outputs)
    return total
