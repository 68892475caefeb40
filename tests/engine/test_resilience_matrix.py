"""The fault matrix: each simulator fault kind x (alone with retries, with a fallback, with a breaker, with a
budget) — the outcome and the sequence of decisions, asserted. Real loopback HTTP, faults at rate 1."""

from __future__ import annotations

import time

import pytest

from tests.engine.resilience_helpers import attempts, collect
from workbench.engine import Engine
from workbench.profiles.load import loads_profile

FAULTS = {  # kind -> (hop status, error class)
    "http_429": ("error", "rate_limit"),
    "http_500": ("error", "server"),
    "http_503": ("error", "server"),
    "http_529": ("error", "overloaded"),
    "hang": ("timeout", "timeout"),
    "stall": ("timeout", "timeout"),
    "drop": ("error", "connection"),
    "malformed": ("error", "malformed"),
}
SLOW = ("hang", "stall")  # faults that cost a timeout rather than an answer


def _profile(fault: str) -> str:
    return f"""
name: matrix
providers:
  oai: {{kind: sim, wire: openai, timeouts: {{first_token: 0.4, idle: 0.3, total: 5}}}}
  patient: {{kind: sim, wire: openai, timeouts: {{first_token: 5, idle: 5, total: 10}}}}
models:
  bad: {{provider: oai, model: sim-bad, prices: [{{input: 1, output: 2}}],
        sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30,
              faults: [{{kind: {fault}, retry_after_s: 0.1, after_tokens: 4}}]}}}}
  slowbad: {{provider: patient, model: sim-bad2, prices: [{{input: 1, output: 2}}],
            sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30,
                  faults: [{{kind: {fault}, retry_after_s: 0.1, after_tokens: 4}}]}}}}
  good: {{provider: oai, model: sim-good, prices: [{{input: 1, output: 2}}],
         sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}}}
routes:
  retries: {{retry: {{max_attempts: 3, backoff_base_s: 0.01}}, steps: [{{name: s, targets: [bad]}}]}}
  fallback: {{steps: [{{name: s, targets: [bad, good]}}]}}
  breaker: {{breaker: {{failures: 1, open_s: 30}}, steps: [{{name: s, targets: [bad, good]}}]}}
  budget: {{steps: [{{name: s, targets: [slowbad, good], budget: {{latency_ms: 800}}}}]}}
"""


def _actions(events: list) -> list[str]:
    return [e.action for e in events if e.type == "decision" and e.action != "route"]


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_matrix(fault: str) -> None:
    status, cls = FAULTS[fault]
    partial = fault in ("stall", "drop", "malformed")  # some text arrived before the break
    async with Engine(loads_profile(_profile(fault))) as engine:
        await engine.ready()
        # alone, with retries: three calls on the same target, two retry decisions, then a clear error
        events = await collect(engine, "q", route="retries")
        hops = attempts(events)
        assert [(h.name, h.attempt, h.status, h.error_class) for h in hops] == [
            ("bad", n, status, cls) for n in (1, 2, 3)
        ]
        expected = (["stream", "retry"] if partial else ["retry"]) * 2
        assert _actions(events) == expected
        waits = [e.data for e in events if e.type == "decision" and e.action == "retry"]
        source = "retry_after" if fault == "http_429" else "backoff"
        assert all(w["wait_source"] == source and w["error_class"] == cls for w in waits)
        assert events[-1].status == "error" and events[-1].error

        # with a fallback (built-in default: no retry while a fallback remains)
        events = await collect(engine, "q", route="fallback")
        assert [(h.name, h.status) for h in attempts(events)] == [("bad", status), ("good", "ok")]
        assert _actions(events) == (["stream", "fallback"] if partial else ["fallback"])
        assert events[-1].status == "ok"

        # with a breaker (one failure opens it): the next run skips the target without calling it
        await collect(engine, "q", route="breaker")
        calls = engine._sim.request_count("sim-bad")
        events = await collect(engine, "q", route="breaker")
        assert [(h.name, h.status, h.error_class) for h in attempts(events)] == [
            ("bad", "skipped", "breaker"),
            ("good", "ok", None),
        ]
        assert _actions(events) == ["skip"] and events[-1].status == "ok"
        assert engine._sim.request_count("sim-bad") == calls

        # with a budget of 800 ms: a fault that answers fast falls back in time; one that hangs or stalls (its own
        # timeouts are 5 s) is cut at the budget and the run ends degraded with the best text so far
        t0 = time.monotonic()
        events = await collect(engine, "q", route="budget")
        elapsed = time.monotonic() - t0
        final = events[-1]
        if fault in SLOW:
            assert [(h.name, h.status) for h in attempts(events)] == [("slowbad", "timeout")]
            assert _actions(events) == ["degrade"] and final.status == "degraded"
            assert final.output == attempts(events)[0].output  # hang: nothing; stall: the partial text
            assert 0.75 <= elapsed <= 0.8 + 0.15
        else:
            assert [h.name for h in attempts(events)] == ["slowbad", "good"] and final.status == "ok"
            assert elapsed < 0.8
