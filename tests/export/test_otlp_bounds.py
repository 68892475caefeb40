"""The live OTLP exporter holds a bounded number of unfinished runs (issue 24 item 4): a run whose consumer walked
away never sends `run_finished`, and `workbench eval --otlp` used to keep every such run's events to the end."""

from __future__ import annotations

from contextlib import aclosing

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from workbench.engine import Engine
from workbench.otel import spans
from workbench.otel.spans import OtlpExporter
from workbench.profiles.load import loads_profile

PROFILE = """\
name: otlp-bounds
providers:
  oai: {kind: sim, wire: openai}
models:
  mini:
    provider: oai
    model: sim-mini
    prices: [{input: 0.15, output: 0.60}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30}
routes:
  plain: {steps: [{name: answer, targets: [mini]}]}
"""


async def test_runs_abandoned_by_their_consumer_are_not_kept_for_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spans, "MAX_PENDING_RUNS", 5, raising=False)
    memory = InMemorySpanExporter()
    exporter = OtlpExporter("http://127.0.0.1:9", exporter=memory)
    async with Engine(loads_profile(PROFILE)) as engine:
        for i in range(12):  # each consumer hangs up after the first token
            async with aclosing(engine.run(f"question {i}", route="plain")) as run:
                async for event in run:
                    exporter.submit(event)
                    if event.type == "token":
                        break
        async for event in engine.run("a run read to its end", route="plain"):
            exporter.submit(event)
    assert len(exporter._pending) <= 5  # 12 abandoned, at most 5 still held
    exporter.provider.force_flush()
    roots = [s for s in memory.get_finished_spans() if s.name.startswith("workbench.run")]
    assert len(roots) == 1  # the finished run is exported as before
