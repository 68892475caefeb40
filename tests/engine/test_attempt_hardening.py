"""Attempt-level hardening: the idle timeout cuts a stall on time, and an adapter bug still closes the run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from workbench.engine import Engine
from workbench.profiles.load import loads_profile
from workbench.providers.base import ChatRequest, Chunk, TextDelta
from workbench.providers.openai_compat import OpenAICompatAdapter
from workbench.providers.plugin import OPENAI

PROFILE = """
name: attempt-hardening
sim: {seed: 5}
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 4, idle: 0.3, total: 30}}
models:
  staller:
    provider: oai
    model: sim-stall
    prices: [{input: 1, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 40, faults: [{kind: stall, rate: 1.0, after_tokens: 3}]}
  fine:
    provider: oai
    model: sim-fine
    prices: [{input: 1, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
routes:
  stall: {steps: [{name: answer, targets: [staller]}]}
  fine: {steps: [{name: answer, targets: [fine]}]}
"""


async def _run(route: str) -> list:
    async with Engine(loads_profile(PROFILE)) as engine:
        return [event async for event in engine.run("tell me something", route=route)]


async def test_idle_timeout_cuts_a_stall_after_the_first_token_at_idle_not_first_token() -> None:
    # first_token 4 s, idle 0.3 s: after the first token the deadline moves EARLIER; the stall must be cut at
    # about 0.3 s after the last token, not when the first-token timer would have fired (4 s).
    events = await _run("stall")
    attempt = [e for e in events if e.type == "hop_finished" and e.kind == "attempt"][0]
    assert attempt.status == "timeout" and attempt.error_class == "timeout"
    assert "idle" in attempt.error and "0.3s" in attempt.error
    assert attempt.ttft_ms is not None
    after_first = (attempt.latency_ms - attempt.ttft_ms) / 1000.0
    assert 0.28 <= after_first < 0.3 + 0.4, after_first  # far from the 4 s the bug gave
    assert events[-1].type == "run_finished"


class _BuggyAdapter(OpenAICompatAdapter):
    """A real adapter (over loopback HTTP to the simulator) with a bug after the first text: what an adapter
    defect looks like to the engine."""

    async def _buggy(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        async for chunk in super().stream(request):
            yield chunk
            if isinstance(chunk, TextDelta):
                raise KeyError("oops")

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return self._buggy(request)


async def test_an_unexpected_adapter_exception_closes_the_hop_and_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OPENAI, "adapter", _BuggyAdapter)  # the `openai` plugin's adapter (the sim speaks it too)
    events = await _run("fine")
    attempt = [e for e in events if e.type == "hop_finished" and e.kind == "attempt"][0]
    assert attempt.status == "error" and attempt.error_class == "malformed"
    assert "KeyError" in attempt.error and attempt.retryable is True
    assert attempt.output_tokens > 0 and attempt.cost_usd > 0  # text arrived: billed, estimated
    final = events[-1]
    assert final.type == "run_finished" and final.status != "ok"
