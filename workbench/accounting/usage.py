"""The one normalized usage record per hop, and its cost.

Buckets never overlap, so cost is a plain sum of bucket x rate:

- `input_tokens`        fresh (uncached) prompt tokens
- `cache_read_tokens`   prompt tokens served from the provider's prompt cache
- `cache_write_5m_tokens` / `cache_write_1h_tokens`  prompt tokens written to the cache, by TTL
- `output_tokens`       visible completion tokens (reasoning excluded)
- `reasoning_tokens`    hidden reasoning/thinking tokens

Each provider adapter maps its wire format into these buckets by that provider's rules (OpenAI's
`prompt_tokens` *includes* `cached_tokens` and `completion_tokens` *includes* `reasoning_tokens`; Anthropic's
`input_tokens` *excludes* cache reads and writes). `input_source` / `output_source` say where each side's
figures came from: `reported` by the provider, or `estimated` by the local tokenizer. The local estimate is
kept beside a reported figure (`estimated_input_tokens`, `estimated_output_tokens`) so drift is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from workbench.accounting.prices import MILLION, Price, Rates

Source = Literal["reported", "estimated"]


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    input_source: Source = "estimated"
    output_source: Source = "estimated"
    estimated_input_tokens: int | None = None
    estimated_output_tokens: int | None = None

    @property
    def prompt_tokens(self) -> int:
        """Every prompt token the provider processed, whatever bucket it was billed in."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def completion_tokens(self) -> int:
        """Every generated token, visible or reasoning."""
        return self.output_tokens + self.reasoning_tokens

    @property
    def estimated(self) -> bool:
        return self.input_source == "estimated" or self.output_source == "estimated"

    @property
    def source(self) -> str:
        if self.input_source == self.output_source:
            return self.input_source
        return "mixed"

    def to_dict(self) -> dict[str, Any]:
        # explicit, not dataclasses.asdict: this runs once per hop on the hot path
        return {
            "input_tokens": self.input_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "input_source": self.input_source,
            "output_source": self.output_source,
            "estimated_input_tokens": self.estimated_input_tokens,
            "estimated_output_tokens": self.estimated_output_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(slots=True, frozen=True)
class Cost:
    """A hop's cost in USD (exact Decimal) with its breakdown and the price entry it was computed with."""

    total: Decimal
    breakdown: dict[str, Decimal] = field(default_factory=dict)
    price_effective: str | None = None
    tier: int | None = None  # index of the tier applied; None for the base rates

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": str(self.total),
            "breakdown": {k: str(v) for k, v in self.breakdown.items()},
            "price_effective": self.price_effective,
            "tier": self.tier,
        }


ZERO = Decimal(0)


def cost_of(usage: Usage, price: Price | None) -> Cost:
    """Exact cost of `usage` under `price` (None = unpriced, costs zero).

    Tier rule: when the request's prompt size (every input bucket) is strictly above a tier's threshold, the
    *whole* request is billed at that tier's rates (the highest threshold crossed wins). Exactly at the
    threshold stays at the lower rates.
    """
    if price is None:
        return Cost(total=ZERO)
    rates: Rates = price.base_rates()
    tier_index: int | None = None
    for i, tier in enumerate(price.tiers):
        if usage.prompt_tokens > tier.above_input_tokens:
            if tier_index is None or tier.above_input_tokens > price.tiers[tier_index].above_input_tokens:
                tier_index = i
    if tier_index is not None:
        rates = price.tier_rates(tier_index)
    parts = {
        "input": usage.input_tokens * rates.input,
        "cache_read": usage.cache_read_tokens * rates.cached_input,
        "cache_write_5m": usage.cache_write_5m_tokens * rates.cache_write_5m,
        "cache_write_1h": usage.cache_write_1h_tokens * rates.cache_write_1h,
        "output": usage.output_tokens * rates.output,
        "reasoning": usage.reasoning_tokens * rates.reasoning,
    }
    breakdown = {k: v / MILLION for k, v in parts.items() if v}
    total = sum(breakdown.values(), ZERO)
    return Cost(total=total, breakdown=breakdown, price_effective=price.effective.isoformat(), tier=tier_index)
