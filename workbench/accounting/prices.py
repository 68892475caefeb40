"""Prices as versioned data: USD per million tokens, with an effective date, a source and long-context tiers.

A model carries a list of `Price` entries; the one in force for a run is the newest whose `effective` date is
not after the run's date (`select_price`). Each hop records the entry it was costed with, so old runs keep old
prices and can be re-costed on new ones.

Rates left out default sensibly: cached input, cache writes -> the input rate; reasoning -> the output rate.
(Anthropic's cache writes cost 1.25x input for the 5-minute TTL and 2x for 1 hour: profiles state them.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MILLION = Decimal(1_000_000)
# Bounds are what the arithmetic can carry: a quoted '1e999999' is a valid Decimal that overflows the moment it is
# multiplied, and an unbounded figure ends as `Infinity` (invalid JSON) in --json and exports. No real model costs
# USD 100,000 per million tokens; no cap needs more than a billion dollars.
MAX_RATE_USD = Decimal(100_000)
MAX_AMOUNT_USD = Decimal(1_000_000_000)
NonNegativeDecimal = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT_USD, allow_inf_nan=False)]
Rate = Annotated[Decimal, Field(ge=0, le=MAX_RATE_USD, allow_inf_nan=False)]


@dataclass(slots=True, frozen=True)
class Rates:
    input: Decimal
    cached_input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal
    reasoning: Decimal


class PriceTier(BaseModel):
    """Above `above_input_tokens` prompt tokens the whole request is billed at these rates."""

    model_config = ConfigDict(extra="forbid")
    above_input_tokens: int = Field(gt=0, description="threshold on the request's prompt size, exclusive")
    input: Rate | None = None
    cached_input: Rate | None = None
    cache_write_5m: Rate | None = None
    cache_write_1h: Rate | None = None
    output: Rate | None = None
    reasoning: Rate | None = None


class Price(BaseModel):
    """One price entry for a model, USD per 1M tokens."""

    model_config = ConfigDict(extra="forbid")
    effective: dt.date = Field(default=dt.date(2000, 1, 1), description="first day these prices apply")
    source: str | None = Field(default=None, description="where the figures come from (URL)")
    input: Rate = Field(description="fresh input tokens")
    output: Rate = Field(description="output tokens")
    cached_input: Rate | None = Field(default=None, description="cache-read input (default: input)")
    cache_write_5m: Rate | None = Field(default=None, description="cache write, 5-min TTL (default: input)")
    cache_write_1h: Rate | None = Field(default=None, description="cache write, 1-hour TTL (default: input)")
    reasoning: Rate | None = Field(default=None, description="reasoning tokens (default: output)")
    tiers: list[PriceTier] = Field(default_factory=list, description="long-context tiers")

    def base_rates(self) -> Rates:
        return Rates(
            input=self.input,
            cached_input=self.input if self.cached_input is None else self.cached_input,
            cache_write_5m=self.input if self.cache_write_5m is None else self.cache_write_5m,
            cache_write_1h=self.input if self.cache_write_1h is None else self.cache_write_1h,
            output=self.output,
            reasoning=self.output if self.reasoning is None else self.reasoning,
        )

    def tier_rates(self, index: int) -> Rates:
        """The tier's rates; a rate the tier leaves out scales with the tier's input/output ratio over base."""
        base = self.base_rates()
        tier = self.tiers[index]
        t_in = base.input if tier.input is None else tier.input
        t_out = base.output if tier.output is None else tier.output

        def scaled(explicit: Decimal | None, base_rate: Decimal, base_anchor: Decimal, tier_anchor: Decimal) -> Decimal:
            if explicit is not None:
                return explicit
            if base_anchor == 0:
                return base_rate
            return base_rate * tier_anchor / base_anchor

        return Rates(
            input=t_in,
            cached_input=scaled(tier.cached_input, base.cached_input, base.input, t_in),
            cache_write_5m=scaled(tier.cache_write_5m, base.cache_write_5m, base.input, t_in),
            cache_write_1h=scaled(tier.cache_write_1h, base.cache_write_1h, base.input, t_in),
            output=t_out,
            reasoning=scaled(tier.reasoning, base.reasoning, base.output, t_out),
        )

    @property
    def is_free(self) -> bool:
        r = self.base_rates()
        return not any((r.input, r.cached_input, r.cache_write_5m, r.cache_write_1h, r.output, r.reasoning))


def select_price(prices: Iterable[Price], on: dt.date | None = None) -> Price | None:
    """The entry in force on `on` (default today): the newest whose effective date is not after it."""
    day = on or dt.date.today()
    best: Price | None = None
    for p in prices:
        if p.effective <= day and (best is None or p.effective > best.effective):
            best = p
    return best
