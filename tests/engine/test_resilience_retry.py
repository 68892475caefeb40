"""Retries on the same target: Retry-After honoured (and capped), backoff, never for non-retryable errors, and the
default that prefers a remaining fallback. Real loopback HTTP against the embedded simulator, seeded."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.engine.resilience_helpers import attempts, collect, decisions, seed_failing_first
from workbench.engine import Engine
from workbench.engine.retry import backoff_s
from workbench.profiles.load import loads_profile
from workbench.profiles.resolve import resolve

FLAKY_FAULTS = [{"kind": "http_429", "rate": 0.5, "retry_after_s": 1}]
FLAKY_SEED = seed_failing_first("sim-flaky", FLAKY_FAULTS, (True, False))
DROPPY_FAULTS = [{"kind": "http_503", "rate": 0.5}]
DROPPY_SEED = seed_failing_first("sim-blip", DROPPY_FAULTS, (True, True, False))

PROFILE = f"""
name: retry-tests
sim: {{seed: 3}}
providers:
  oai: {{kind: sim, wire: openai, timeouts: {{first_token: 2, idle: 1, total: 10}}}}
models:
  flaky:
    provider: oai
    model: sim-flaky
    prices: [{{input: 1, output: 2}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20, seed: {FLAKY_SEED}, faults: {json.dumps(FLAKY_FAULTS)}}}
  blip:
    provider: oai
    model: sim-blip
    prices: [{{input: 1, output: 2}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20, seed: {DROPPY_SEED}, faults: {json.dumps(DROPPY_FAULTS)}}}
  limited:
    provider: oai
    model: sim-limited
    prices: [{{input: 1, output: 2}}]
    sim: {{ttft_ms: 0, faults: [{{kind: http_429, retry_after_s: 30}}]}}
  down:
    provider: oai
    model: sim-down
    prices: [{{input: 1, output: 2}}]
    sim: {{ttft_ms: 0, faults: [{{kind: http_503}}]}}
  good:
    provider: oai
    model: sim-good
    prices: [{{input: 3, output: 4}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}
routes:
  single: {{steps: [{{name: answer, targets: [flaky]}}]}}
  backoff:
    steps: [{{name: answer, targets: [blip, good], retry: {{max_attempts: 3, backoff_base_s: 0.2, backoff_cap_s: 1}}}}]
  capped:
    steps: [{{name: answer, targets: [limited, good], retry: {{max_attempts: 3, retry_after_cap_s: 2}}}}]
  default_fallback: {{steps: [{{name: answer, targets: [down, good]}}]}}
  all_down: {{steps: [{{name: answer, targets: [down]}}]}}
"""


def _loaded():
    return loads_profile(PROFILE)


async def test_retry_after_1s_is_honoured_on_a_single_target_by_default() -> None:
    # A single-target step gets the default second call; the 429 says "retry in 1 s" (header and ms form).
    async with Engine(_loaded()) as engine:
        events = await collect(engine, "hello", route="single")
    hops = attempts(events)
    assert [(h.name, h.attempt, h.target_index, h.status) for h in hops] == [
        ("flaky", 1, 0, "error"),
        ("flaky", 2, 0, "ok"),
    ]
    assert hops[0].error_class == "rate_limit" and hops[0].retry_after_s == 1.0
    (retry,) = decisions(events, "retry")
    assert retry.data == {"wait_s": 1.0, "wait_source": "retry_after", "error_class": "rate_limit", "attempt": 2}
    second_start = next(e for e in events if e.type == "hop_started" and e.kind == "attempt" and e.attempt == 2)
    gap = second_start.ts - hops[0].ts
    assert 1.0 <= gap <= 1.3, gap
    assert events[-1].status == "ok" and events[-1].output == hops[1].output
    assert Decimal(events[-1].cost["total"]) == sum(h.cost_usd for h in hops)


async def test_retry_after_over_the_cap_falls_back_instead_of_waiting() -> None:
    async with Engine(_loaded()) as engine:
        events = await collect(engine, "hello", route="capped")
    hops = attempts(events)
    assert [(h.name, h.attempt, h.status) for h in hops] == [("limited", 1, "error"), ("good", 1, "ok")]
    assert not decisions(events, "retry")
    (fallback,) = decisions(events, "fallback")
    assert "Retry-After 30s is over the 2s cap" in fallback.reason
    assert events[-1].latency_ms < 1000  # no 30 s (nor 2 s) wait happened


async def test_backoff_retries_with_seeded_full_jitter_then_succeeds() -> None:
    # blip fails twice (503, no Retry-After) then answers: two retries after jittered backoff, no fallback.
    loaded = _loaded()
    run_id = "0123456789abcdef0001"
    async with Engine(loaded) as engine:
        events = await collect(engine, "hello", route="backoff", run_id=run_id)
    hops = attempts(events)
    assert [(h.name, h.attempt, h.status) for h in hops] == [
        ("blip", 1, "error"),
        ("blip", 2, "error"),
        ("blip", 3, "ok"),
    ]
    retries = decisions(events, "retry")
    policy = resolve(loaded.profile, "backoff", (0,), 0)
    # full jitter: uniform(0, min(cap 1, 0.2 * 2**(n-1))), seeded by run id, step path, target and attempt
    expected = [backoff_s(policy, n, f"{run_id}|0|0|{n}") for n in (1, 2)]
    assert [r.data["wait_s"] for r in retries] == [round(w, 6) for w in expected]
    assert 0 <= expected[0] <= 0.2 and 0 <= expected[1] <= 0.4
    assert all(r.data["wait_source"] == "backoff" for r in retries)
    assert events[-1].status == "ok"


async def test_default_policy_falls_back_at_once_while_a_fallback_remains() -> None:
    async with Engine(_loaded()) as engine:
        events = await collect(engine, "hello", route="default_fallback")
    assert [(h.name, h.attempt) for h in attempts(events)] == [("down", 1), ("good", 1)]
    assert not decisions(events, "retry")


async def test_last_target_is_retried_once_then_the_step_fails_clearly() -> None:
    async with Engine(_loaded()) as engine:
        events = await collect(engine, "hello", route="all_down")
    hops = attempts(events)
    assert [(h.name, h.attempt, h.status) for h in hops] == [("down", 1, "error"), ("down", 2, "error")]
    assert events[-1].status == "error" and "503" in events[-1].error


async def test_non_retryable_errors_are_never_retried() -> None:
    text = PROFILE.replace("sim: {ttft_ms: 0, faults: [{kind: http_503}]}", "sim: {ttft_ms: 0, context_window: 5}")
    loaded = loads_profile(text.replace("sim-down", "sim-tiny"))
    async with Engine(loaded) as engine:
        events = await collect(engine, "a prompt that is far longer than five tokens, surely", route="all_down")
    hops = attempts(events)
    assert len(hops) == 1 and hops[0].error_class == "context_window" and hops[0].status == "error"
    assert not decisions(events, "retry")
