"""Load balancing among equivalent targets: the order is a `balance` decision, seeded (predictable per run id)."""

from __future__ import annotations

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile

PROFILE = """
name: balance-tests
providers:
  oai: {kind: sim, wire: openai}
models:
  a: {provider: oai, model: sim-a, prices: [{input: 5, output: 10}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 5}}
  b: {provider: oai, model: sim-b, prices: [{input: 0.5, output: 1}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 5}}
  c: {provider: oai, model: sim-c, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 5}}
routes:
  weighted:
    balance: {strategy: weighted, seed: 42}
    steps: [{name: answer, targets: [{model: a, weight: 3}, {model: b, weight: 1}]}]
  cheapest: {balance: {strategy: cheapest}, steps: [{name: answer, targets: [a, b, c]}]}
  fastest: {balance: {strategy: lowest_latency}, steps: [{name: answer, targets: [a, b, c]}]}
  busy: {balance: {strategy: least_busy}, steps: [{name: answer, targets: [a, b, c]}]}
"""


async def test_weighted_order_follows_the_weights_and_repeats_per_run_id() -> None:
    loaded = loads_profile(PROFILE)
    firsts: list[str] = []
    async with Engine(loaded) as engine:
        for i in range(200):
            events = await collect(engine, "hi", route="weighted", run_id=f"run{i:04d}")
            (choice,) = decisions(events, "balance")
            assert choice.data["strategy"] == "weighted" and sorted(choice.data["order"]) == ["a", "b"]
            assert attempts(events)[0].name == choice.data["order"][0]
            firsts.append(choice.data["order"][0])
        again = await collect(engine, "hi", route="weighted", run_id="run0007")
    assert 0.65 <= firsts.count("a") / 200 <= 0.85  # weight 3 of 4
    assert decisions(again, "balance")[0].data["order"][0] == firsts[7]  # same run id, same order


async def test_cheapest_lowest_latency_and_least_busy_orders() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        events = await collect(engine, "hi", route="cheapest")
        (choice,) = decisions(events, "balance")
        assert choice.data["order"] == ["b", "c", "a"] and choice.data["by"] == {"a": 15.0, "b": 1.5, "c": 3.0}
        assert [h.name for h in attempts(events)] == ["b"]

        health.get("oai/sim-a").ewma_latency_ms = 300.0
        health.get("oai/sim-b").ewma_latency_ms = 100.0
        health.get("oai/sim-c").ewma_latency_ms = 200.0
        events = await collect(engine, "hi", route="fastest")
        assert decisions(events, "balance")[0].data["order"] == ["b", "c", "a"]

        health.get("oai/sim-a").in_flight = 2
        health.get("oai/sim-b").in_flight = 1
        events = await collect(engine, "hi", route="busy")
        assert decisions(events, "balance")[0].data["order"] == ["c", "b", "a"]
