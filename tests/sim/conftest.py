"""Clients for the simulator tests: the official SDKs, without retries so faults show exactly as sent."""

from __future__ import annotations

import anthropic
import openai
import pytest


@pytest.fixture(scope="session")
def oai(sim_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0, timeout=10)


@pytest.fixture(scope="session")
def anth(sim_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=0, timeout=10)
