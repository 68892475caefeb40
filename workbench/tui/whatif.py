"""What-if pricing: what a finished run would have cost on another model's prices, without calling it.

Every attempt hop carries its normalized usage buckets (fresh input, cache read/write, output, reasoning), so
re-pricing is exact arithmetic on what was recorded — the same rule `workbench sessions reprice` applies to
saved runs. The token counts are the ones the run spent; another model's tokenizer would count a little
differently, which the column says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from workbench.accounting.prices import select_price
from workbench.accounting.usage import Usage, cost_of
from workbench.engine.events import HopFinished

if TYPE_CHECKING:
    from workbench.profiles.models import Model
    from workbench.tui.runner import RunState


def reprice(hops: Iterable[HopFinished], model: Model, on: dt.date | None = None) -> Decimal | None:
    """The cost of the attempt hops' usage at `model`'s price in force (None: the model has no price)."""
    price = select_price(model.prices, on or dt.date.today())
    if price is None:
        return None
    total = Decimal(0)
    for hop in hops:
        if hop.kind == "attempt" and hop.usage:
            total += cost_of(Usage.from_dict(hop.usage), price).total
    return total


def finished_hops(state: RunState) -> list[HopFinished]:
    """The `hop_finished` events of a TUI run state's rows."""
    return [e for row in state.rows.values() for e in row.events if isinstance(e, HopFinished)]
