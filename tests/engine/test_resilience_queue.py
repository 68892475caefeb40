"""Queue on outage: when every target of a step has an open breaker, the run waits in the route's bounded queue
until the first can take a probe (a `queue` decision with position and wait, a `queue` hop for the time spent);
a full queue rejects at once with a clear error."""

from __future__ import annotations

import time

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine, health
from workbench.profiles.load import loads_profile

PROFILE = """
name: queue-tests
providers:
  oai: {kind: sim, wire: openai}
models:
  good: {provider: oai, model: sim-good, prices: [{input: 1, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000}}
routes:
  queued: {queue: {enabled: true, max_waiting: 5}, steps: [{name: answer, targets: [good]}]}
  full: {queue: {enabled: true, max_waiting: 0}, steps: [{name: answer, targets: [good]}]}
  no_queue: {steps: [{name: answer, targets: [good]}]}
"""


def _open_breaker(seconds: float) -> None:
    h = health.get("oai/sim-good")
    h.state, h.open_s, h.open_until = "open", seconds, time.monotonic() + seconds


async def test_a_run_waits_for_the_breaker_then_its_probe_closes_it() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        _open_breaker(0.3)
        events = await collect(engine, "hi", route="queued")
    (queue,) = decisions(events, "queue")
    assert queue.data["position"] == 1 and 0.2 < queue.data["wait_s"] <= 0.3
    hops = [e for e in events if e.type == "hop_finished" and e.kind == "queue"]
    assert len(hops) == 1 and hops[0].status == "ok" and 200 <= hops[0].latency_ms <= 450
    assert [(h.status, h.error_class) for h in attempts(events)] == [("skipped", "breaker"), ("ok", None)]
    assert events[-1].status == "ok"
    assert health.snapshot()["oai/sim-good"]["state"] == "closed" and health.queued("queued") == 0


async def test_a_full_queue_rejects_at_once_and_no_queue_fails_at_once() -> None:
    async with Engine(loads_profile(PROFILE)) as engine:
        await engine.ready()
        for route, words in (("full", "queue is full (0 waiting)"), ("no_queue", "circuit open")):
            _open_breaker(5.0)
            t0 = time.monotonic()
            events = await collect(engine, "hi", route=route)
            assert time.monotonic() - t0 < 0.5
            assert events[-1].status == "error" and words in events[-1].error, events[-1].error
        assert decisions(events, "queue") == []
