"""Wire usage -> normalized buckets, by each provider's rules (field notes: hard cases 7, 8, 9, 11, 13)."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.accounting.usage import Usage
from workbench.providers.anthropic import anthropic_usage
from workbench.providers.openai_compat import openai_usage


def reported(**buckets: int) -> Usage:
    return Usage(**buckets, input_source="reported", output_source="reported")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}, reported(input_tokens=10, output_tokens=5)),
        (  # OpenAI: cached inside prompt, reasoning inside completion
            {
                "prompt_tokens": 1000,
                "completion_tokens": 300,
                "total_tokens": 1300,
                "prompt_tokens_details": {"cached_tokens": 800},
                "completion_tokens_details": {"reasoning_tokens": 256},
            },
            reported(input_tokens=200, cache_read_tokens=800, output_tokens=44, reasoning_tokens=256),
        ),
        (  # Gemini's OpenAI-compatible endpoint: reasoning apart, total gives it away
            {
                "prompt_tokens": 50,
                "completion_tokens": 20,
                "total_tokens": 170,
                "completion_tokens_details": {"reasoning_tokens": 100},
            },
            reported(input_tokens=50, output_tokens=20, reasoning_tokens=100),
        ),
        (  # reasoning apart without a total: larger than the completion, so it cannot be inside it
            {"prompt_tokens": 5, "completion_tokens": 3, "completion_tokens_details": {"reasoning_tokens": 40}},
            reported(input_tokens=5, output_tokens=3, reasoning_tokens=40),
        ),
        (  # DeepSeek names cache hits its own way
            {
                "prompt_tokens": 100,
                "completion_tokens": 1,
                "total_tokens": 101,
                "prompt_cache_hit_tokens": 64,
                "prompt_cache_miss_tokens": 36,
            },
            reported(input_tokens=36, cache_read_tokens=64, output_tokens=1),
        ),
        (  # nulls everywhere (some servers) never go negative or crash
            {
                "prompt_tokens": 3,
                "completion_tokens": None,
                "prompt_tokens_details": None,
                "completion_tokens_details": None,
            },
            reported(input_tokens=3),
        ),
        (  # inconsistent figures are clamped at zero
            {
                "prompt_tokens": 5,
                "completion_tokens": 2,
                "total_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 9},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
            reported(input_tokens=0, cache_read_tokens=9, output_tokens=0, reasoning_tokens=2),
        ),
    ],
)
def test_openai_usage(raw: dict[str, Any], expected: Usage) -> None:
    assert openai_usage(raw) == expected


def test_openai_usage_sources_follow_the_fields_given() -> None:
    usage = openai_usage({"prompt_tokens": 4})
    assert (usage.input_source, usage.output_source) == ("reported", "estimated")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (  # input excludes cache reads and writes; writes split by TTL
            {
                "input_tokens": 12,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 50,
                "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30},
                "output_tokens": 42,
            },
            reported(
                input_tokens=12,
                cache_read_tokens=100,
                cache_write_5m_tokens=20,
                cache_write_1h_tokens=30,
                output_tokens=42,
            ),
        ),
        (  # no TTL split: all writes are 5-minute
            {"input_tokens": 1, "cache_creation_input_tokens": 70, "output_tokens": 2},
            reported(input_tokens=1, cache_write_5m_tokens=70, output_tokens=2),
        ),
        (  # a split that does not add up: the remainder is 5-minute
            {
                "input_tokens": 1,
                "cache_creation_input_tokens": 70,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 30},
                "output_tokens": 2,
            },
            reported(input_tokens=1, cache_write_5m_tokens=40, cache_write_1h_tokens=30, output_tokens=2),
        ),
        (
            {
                "input_tokens": 1,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
                "output_tokens": 2,
            },
            reported(input_tokens=1, output_tokens=2),
        ),
    ],
)
def test_anthropic_usage(raw: dict[str, Any], expected: Usage) -> None:
    assert anthropic_usage(raw) == expected


def test_anthropic_usage_without_token_figures_is_none() -> None:
    assert anthropic_usage({}) is None
    assert anthropic_usage({"service_tier": "standard"}) is None
