"""Exact cost arithmetic: buckets, defaults, long-context tiers at and over the threshold, price selection."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from workbench.accounting import Price, Usage, cost_of, select_price

D = Decimal


def test_each_bucket_is_billed_at_its_rate_exactly() -> None:
    # Claude Sonnet 4.x rates: in 3, 5m write 3.75, 1h write 6, cache hit 0.30, out 15 (USD per 1M)
    price = Price(input="3", cache_write_5m="3.75", cache_write_1h="6", cached_input="0.30", output="15")
    usage = Usage(
        input_tokens=1000,
        cache_read_tokens=20000,
        cache_write_5m_tokens=3000,
        cache_write_1h_tokens=500,
        output_tokens=700,
        reasoning_tokens=300,
    )
    cost = cost_of(usage, price)
    hand = (D(1000) * 3 + D(20000) * D("0.30") + D(3000) * D("3.75") + D(500) * 6 + D(700) * 15 + D(300) * 15) / 10**6
    assert cost.total == hand == D("0.03825")
    assert cost.breakdown["reasoning"] == D("0.0045")


def test_defaults_cached_and_writes_at_input_reasoning_at_output() -> None:
    price = Price(input="1", output="2", reasoning="8")
    usage = Usage(input_tokens=1, cache_read_tokens=1, cache_write_5m_tokens=1, output_tokens=1, reasoning_tokens=1)
    assert cost_of(usage, price).total == D(1 + 1 + 1 + 2 + 8) / 10**6


def test_long_context_tier_crossed_by_one_token_bills_the_whole_request_higher() -> None:
    # Gemini 2.5 Pro style: 1.25 in / 10 out up to 200K prompt tokens, 2.50 / 15 above.
    price = Price(input="1.25", output="10", tiers=[{"above_input_tokens": 200_000, "input": "2.50", "output": "15"}])
    at = cost_of(Usage(input_tokens=200_000, output_tokens=1000), price)
    over = cost_of(Usage(input_tokens=200_001, output_tokens=1000), price)
    assert at.tier is None and at.total == (D(200_000) * D("1.25") + D(1000) * 10) / 10**6
    assert over.tier == 0 and over.total == (D(200_001) * D("2.50") + D(1000) * 15) / 10**6


def test_tier_threshold_counts_cached_prompt_tokens_too() -> None:
    price = Price(
        input="2", cached_input="0.5", output="8", tiers=[{"above_input_tokens": 100, "input": "4", "output": "16"}]
    )
    cost = cost_of(Usage(input_tokens=60, cache_read_tokens=41, output_tokens=1), price)
    # crossed (101 > 100): cached rate scales with the tier's input ratio (0.5 * 4/2 = 1)
    assert cost.total == (D(60) * 4 + D(41) * 1 + D(1) * 16) / 10**6


def test_sum_of_many_hop_costs_is_exact() -> None:
    price = Price(input="0.15", output="0.60")
    costs = [cost_of(Usage(input_tokens=7, output_tokens=3), price).total for _ in range(1000)]
    assert sum(costs, D(0)) == D(1000) * (D(7) * D("0.15") + D(3) * D("0.60")) / 10**6


def test_price_in_force_is_the_newest_not_after_the_day() -> None:
    old = Price(effective=dt.date(2025, 1, 1), input="5", output="15")
    new = Price(effective=dt.date(2026, 6, 1), input="2.5", output="10")
    assert select_price([new, old], dt.date(2026, 5, 31)) is old
    assert select_price([new, old], dt.date(2026, 6, 1)) is new
    assert select_price([new], dt.date(2020, 1, 1)) is None


def test_free_model_and_unpriced_model_cost_zero() -> None:
    assert Price(input="0", output="0").is_free
    assert cost_of(Usage(input_tokens=10**6, output_tokens=10**6), None).total == 0
