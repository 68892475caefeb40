"""Mid-stream failure policy: `restart` discards the partial text and says how much; `continue` hands it to the
next call and appends the continuation. Neither ever duplicates text. The simulator's `drop` fault cuts the stream."""

from __future__ import annotations

from decimal import Decimal

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine
from workbench.profiles.load import loads_profile
from workbench.tokens import count_text

PROFILE = """
name: stream-tests
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 2, idle: 1, total: 10}}
  ant: {kind: sim, wire: anthropic, timeouts: {first_token: 2, idle: 1, total: 10}}
models:
  dropper:
    provider: oai
    model: sim-dropper
    tokenizer: o200k_base
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 40, faults: [{kind: drop, after_tokens: 6}]}
  good:
    provider: ant
    model: sim-good
    tokenizer: o200k_base
    prices: [{input: 3, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
routes:
  restart: {steps: [{name: answer, targets: [dropper, good]}]}
  continue: {on_stream_failure: continue, steps: [{name: answer, targets: [dropper, good]}]}
"""


async def _run(route: str) -> list:
    async with Engine(loads_profile(PROFILE)) as engine:
        return await collect(engine, "tell me about tides", route=route)


async def test_restart_discards_the_partial_text_and_says_how_much() -> None:
    events = await _run("restart")
    broken, ok = attempts(events)
    assert broken.status == "error" and broken.output and ok.status == "ok"
    (stream,) = decisions(events, "stream")
    assert stream.data == {
        "policy": "restart",
        "discarded_chars": len(broken.output),
        "discarded_tokens": count_text(broken.output, "o200k_base"),
    }
    final = events[-1]
    assert final.output == ok.output  # the fallback's answer alone, the partial text gone
    assert final.output != broken.output + ok.output
    assert final.cost_usd == broken.cost_usd + ok.cost_usd and broken.cost_usd > 0


async def test_continue_hands_the_partial_text_on_and_appends_the_continuation() -> None:
    events = await _run("continue")
    broken, ok = attempts(events)
    (stream,) = decisions(events, "stream")
    assert stream.data["policy"] == "continue" and stream.data["kept_chars"] == len(broken.output)
    final = events[-1]
    assert final.status == "ok"
    assert final.output == broken.output + ok.output  # each piece once, in order
    # what the consumer streamed: the broken hop's tokens, then the continuation's, and nothing twice
    streamed = "".join(e.text for e in events if e.type == "token")
    assert streamed == final.output
    # the continuation call carried the partial answer as its assistant prefix: its prompt is larger
    restart_ok = attempts(await _run("restart"))[1]
    assert ok.input_tokens > restart_ok.input_tokens
    assert Decimal(final.cost["total"]) == broken.cost_usd + ok.cost_usd
