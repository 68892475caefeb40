"""The writer of a long-lived engine holds a bounded number of unfinished runs (issue 24 item 4).

A consumer that walks away from a run (closes the engine's generator: a client that hung up) leaves it without
`run_finished`. The writer used to keep assembling every such run until it closed, i.e. for the life of the
process; now it keeps at most `MAX_OPEN_RUNS`, dropping the one silent longest, and its notices stay bounded."""

from __future__ import annotations

import gc
from contextlib import aclosing
from pathlib import Path

import pytest
from store_events import run_events

from workbench.engine import Engine
from workbench.engine.events import HopFinished
from workbench.profiles.load import loads_profile
from workbench.store import EventWriter
from workbench.store import writer as writer_module
from workbench.store.records import RunAssembler

PROFILE = """\
name: store-bounds
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


def _assemblers() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is RunAssembler)


async def test_runs_abandoned_by_their_consumer_are_not_kept_for_ever(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "MAX_OPEN_RUNS", 5, raising=False)
    writer = EventWriter(db_path)
    before = _assemblers()
    try:
        async with Engine(loads_profile(PROFILE)) as engine:
            for i in range(20):  # each consumer hangs up after the first token
                async with aclosing(engine.run(f"question {i}", route="plain")) as run:
                    async for event in run:
                        writer.submit(event)
                        if event.type == "token":
                            break
            async for event in engine.run("a run read to its end", route="plain"):
                writer.submit(event)
        assert writer.flush(10)
        assert _assemblers() - before <= 5  # 20 abandoned runs, at most 5 still held
        assert writer.saved == 1  # the finished run is saved as before
    finally:
        writer.close()
    assert len(writer.notices) <= writer_module.MAX_NOTICES


def test_a_live_run_outlasts_abandoned_ones_and_notices_stay_bounded(db_path: Path) -> None:
    live = run_events(run_id="live")
    with EventWriter(db_path, max_open_runs=3) as writer:
        writer.submit(live[0])
        for i, event in enumerate(live[1:-1] * 30):  # the live run stays active while 250 others are abandoned
            writer.submit(event)
            for e in run_events(run_id=f"gone{i}")[:3]:
                writer.submit(e)
        writer.submit(live[-1])
        assert writer.flush(10)
        assert writer.open_runs <= 3
        assert writer.saved == 1
        assert writer.dropped == len(live[1:-1]) * 30 - 2
        assert len(writer.notices) == writer_module.MAX_NOTICES  # the newest only


def test_errors_stay_bounded_when_run_after_run_cannot_be_saved(db_path: Path) -> None:
    heard = []
    with EventWriter(db_path, on_error=heard.append) as writer:
        for i in range(150):  # a run whose hop cost does not parse: reported, not saved
            for e in run_events(run_id=f"bad{i}"):
                if isinstance(e, HopFinished) and e.kind == "attempt":
                    e = HopFinished(run_id=e.run_id, hop_id="x", cost={"total": "?"}, cost_usd="oops")  # type: ignore[arg-type]
                writer.submit(e)
        assert writer.flush(10)
    assert len(heard) == 150  # the callback hears of every one
    assert len(writer.errors) == writer_module.MAX_NOTICES
    assert "bad149" in writer.errors[-1].message  # the newest are kept
