"""Client-side fault injection (`Engine.inject_fault`): the simulator's fault kinds acted out by an httpx transport
wrapper, so they work against any provider. Here the server is the simulator with no faults of its own."""

from __future__ import annotations

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine
from workbench.profiles.load import loads_profile

PROFILE = """
name: inject-tests
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 0.4, idle: 0.3, total: 5}}
  ant: {kind: sim, wire: anthropic, timeouts: {first_token: 0.4, idle: 0.3, total: 5}}
models:
  a: {provider: oai, model: sim-a, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30}}
  c: {provider: ant, model: sim-c, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30}}
  b: {provider: oai, model: sim-b, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}
routes:
  main: {steps: [{name: answer, targets: [a, b]}]}
  claude: {steps: [{name: answer, targets: [c, b]}]}
"""


async def test_injected_http_errors_never_reach_the_server_and_are_classified() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        for kind, cls, route, alias in [
            ("http_503", "server", "main", "a"),
            ("http_429", "rate_limit", "main", "a"),
            ("http_529", "overloaded", "claude", "c"),
        ]:
            engine.inject_fault(alias, kind)
            events = await collect(engine, "hi", route=route)
            first, second = attempts(events)
            assert (first.name, first.status, first.error_class) == (alias, "error", cls), kind
            assert second.name == "b" and second.status == "ok" and events[-1].status == "ok"
            assert decisions(events, "fallback")
            engine.inject_fault(alias, None)
        assert engine._sim.request_count("sim-a") == 0 and engine._sim.request_count("sim-c") == 0
        events = await collect(engine, "hi", route="main")  # cleared: the server answers again
        assert [h.name for h in attempts(events)] == ["a"] and engine._sim.request_count("sim-a") == 1


async def test_injected_drop_hang_and_malformed() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        engine.inject_fault("a", "drop", after_events=4)
        events = await collect(engine, "hi", route="main")
        first = attempts(events)[0]
        assert first.status == "error" and first.error_class == "connection" and first.output
        assert decisions(events, "stream")[0].data["policy"] == "restart"

        engine.inject_fault("a", "hang")
        events = await collect(engine, "hi", route="main")
        first = attempts(events)[0]
        assert first.status == "timeout" and 350 <= first.latency_ms <= 600

        engine.inject_fault("a", "malformed")
        events = await collect(engine, "hi", route="main")
        assert attempts(events)[0].error_class == "malformed" and events[-1].status == "ok"
