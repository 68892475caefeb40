"""Mid-stream failure policy: `restart` discards the partial text and says how much; `continue` hands it to the
next call and appends the continuation. Neither ever duplicates text. The simulator's `drop` fault cuts the stream."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.engine.resilience_helpers import attempts, collect, decisions
from workbench.engine import Engine
from workbench.engine.events import Event
from workbench.engine.step import CONTINUE_INSTRUCTION
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
  good_oai:
    provider: oai
    model: sim-good-oai
    tokenizer: o200k_base
    prices: [{input: 3, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
  good:
    provider: ant
    model: sim-good
    tokenizer: o200k_base
    prices: [{input: 3, output: 4}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}
routes:
  restart: {steps: [{name: answer, targets: [dropper, good]}]}
  continue: {on_stream_failure: continue, steps: [{name: answer, targets: [dropper, good]}]}
  continue_oai: {on_stream_failure: continue, steps: [{name: answer, targets: [dropper, good_oai]}]}
  clean: {steps: [{name: answer, targets: [dropper]}]}
"""
K = 6  # the drop fault's after_tokens above
QUESTION = "tell me about tides"


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
    stream = decisions(events, "stream")[0]  # (a second one says the continuation's repeat was dropped)
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


async def _behaviour(route: str) -> tuple[list, dict[str, list], str]:
    """Run `route` through the simulator; the events, what each fallback model received, and the dropper's whole
    answer to the same question (the same seed, model and prompt, its fault switched off by a header)."""
    async with Engine(loads_profile(PROFILE)) as engine:
        events = await collect(engine, QUESTION, route=route)
        sim = engine._sim
        assert sim is not None
        received = {}
        for model_id in ("sim-good", "sim-good-oai"):
            prompt = sim.last_prompt(model_id)
            received[model_id] = [] if prompt is None else [(m["role"], m["content"]) for m in prompt.messages]
        whole = await collect(engine, QUESTION, route="clean", extra_headers={"x-sim-behaviour": '{"faults": []}'})
    assert whole[-1].status == "ok"
    return events, received, whole[-1].output


def _as_json(event: Event) -> dict:
    return json.loads(json.dumps(event.to_dict()))  # what `workbench run --json` prints for it


async def test_continue_through_the_simulator_sends_the_partial_as_the_answers_start_and_never_repeats_it() -> None:
    for route, fallback_id in (("continue", "sim-good"), ("continue_oai", "sim-good-oai")):
        events, received, whole = await _behaviour(route)
        broken, ok = attempts(events)
        # the drop struck after K tokens of the dropper's own answer: that is the partial text, and all of it
        assert whole.startswith(broken.output) and count_text(broken.output, "o200k_base") == K
        # the continuation call carried it as the assistant's answer so far (OpenAI-wire servers also need asking)
        expected = [("user", QUESTION), ("assistant", broken.output)]
        if fallback_id == "sim-good-oai":
            expected.append(("user", CONTINUE_INSTRUCTION))
        assert received[fallback_id] == expected, route
        # the answer: the partial once, then the continuation; streamed to the consumer exactly so
        final = events[-1]
        assert final.status == "ok" and final.output == broken.output + ok.output
        assert not ok.output.startswith(broken.output)
        assert "".join(e.text for e in events if e.type == "token") == final.output
        kept, *repeat = decisions(events, "stream")
        as_json = _as_json(kept)
        assert as_json["action"] == "stream" and as_json["target"] == "dropper"
        assert as_json["data"] == {
            "policy": "continue",
            "kept_chars": len(broken.output),
            "kept_tokens": K,
            "prefix_chars": len(broken.output),
        }
        assert f"after {len(broken.output)} chars" in as_json["reason"] and "continues" in as_json["reason"]
        if fallback_id == "sim-good":
            # The simulator does not continue a prefilled answer as a real model would: it answers the question
            # from the start, repeating the kept words. The engine drops the repeat instead of doubling them.
            (dropped,) = repeat
            assert _as_json(dropped)["data"] == {"policy": "continue", "repeated_chars": len(broken.output)}
            assert ok.data == {"repeated_chars": len(broken.output)}
        else:  # asked to continue, it wrote something else: nothing dropped
            assert repeat == [] and ok.data is None


async def test_restart_through_the_simulator_sends_the_question_alone_and_says_what_it_discarded() -> None:
    events, received, whole = await _behaviour("restart")
    broken, ok = attempts(events)
    assert whole.startswith(broken.output) and count_text(broken.output, "o200k_base") == K
    assert received["sim-good"] == [("user", QUESTION)]  # nothing of the broken answer was sent on
    assert events[-1].output == ok.output
    as_json = _as_json(decisions(events, "stream")[0])
    assert as_json["data"] == {"policy": "restart", "discarded_chars": len(broken.output), "discarded_tokens": K}
    assert "discarded" in as_json["reason"]


def test_a_continuation_is_checked_for_a_repeat_only_while_it_matches_the_kept_text() -> None:
    from workbench.engine.attempt import _Echo

    echo = _Echo(("Let me walk",))
    assert [echo.feed(p) for p in ("Let", " me", " run")] == ["", "", "Let me run"]  # diverged: released whole
    assert echo.done and echo.dropped == ""
    echo = _Echo(("abc",))
    assert echo.feed("abcdef") == "def" and echo.dropped == "abc"  # the whole repeat dropped, the rest kept
    echo = _Echo(("abc",))
    assert echo.feed("ab") == "" and not echo.done
    echo.end()
    assert echo.dropped == "ab"  # ended mid-repeat: the repeated part is dropped too
    # a prefill sent without its trailing whitespace: the continuation writes it again, once is enough
    echo = _Echo(("## Tides\n\n", "\n\n"))
    assert echo.feed("\n") == "" and echo.feed("\n- Tides") == "- Tides" and echo.dropped == "\n\n"
    echo = _Echo(("## Tides\n\n", "\n\n"))
    assert echo.feed("## Ti") == "" and echo.feed("des\n\nLet") == "Let" and echo.dropped == "## Tides\n\n"


async def test_continue_to_anthropic_sends_the_kept_text_without_trailing_whitespace_and_keeps_it_once() -> None:
    # a Markdown answer (a heading at 60 tokens) whose 4th token is "\n\n": the stream breaks right after it
    profile = PROFILE.replace(
        "answer_tokens: 40, faults: [{kind: drop, after_tokens: 6}]",
        "answer_tokens: 60, markdown: true, faults: [{kind: drop, after_tokens: 4}]",
    )
    async with Engine(loads_profile(profile)) as engine:
        events = await collect(engine, QUESTION, route="continue")
        sent = engine._sim.last_prompt("sim-good")  # type: ignore[union-attr]
    broken, ok = attempts(events)
    assert broken.output.endswith("\n\n") and broken.output.strip()
    # Anthropic refuses a final assistant turn that ends in whitespace: the prefill goes without it
    assert sent is not None and sent.messages[-1] == {"role": "assistant", "content": broken.output.rstrip()}
    final = events[-1]
    assert final.status == "ok" and final.output == broken.output + ok.output
    assert "".join(e.text for e in events if e.type == "token") == final.output


DIVERGING = """
name: stream-diverging
providers:
  oai: {kind: sim, wire: openai, timeouts: {first_token: 2, idle: 1, total: 10}}
  ant: {kind: sim, wire: anthropic, timeouts: {first_token: 2, idle: 1, total: 10}}
models:
  dropper:  # a Markdown answer (80 tokens: it opens with a heading), cut after 12 tokens
    provider: oai
    model: sim-dropper
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 80, faults: [{kind: drop, after_tokens: 12}]}
  other:  # answers the same question from the start, worded otherwise (another seed): same heading, then not
    provider: ant
    model: sim-other
    prices: [{input: 1, output: 2}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 80, seed: 77}
routes:
  continue: {on_stream_failure: continue, steps: [{name: answer, targets: [dropper, other]}]}
  restart: {on_stream_failure: restart, steps: [{name: answer, targets: [dropper, other]}]}
"""


async def test_a_continuation_that_restarts_and_diverges_does_not_repeat_the_heading() -> None:
    """Issue 20 item 24: the stream breaks after the heading and a few words; the fallback, asked to continue,
    starts the answer over — the same heading — then words it otherwise. The heading was kept once already: the
    repeated line is dropped, the rest follows as a new paragraph, and the answer (streamed and final) has one
    heading. Under `restart` the partial is discarded: one heading too."""
    async with Engine(loads_profile(DIVERGING)) as engine:
        events = await collect(engine, QUESTION, route="continue")
        restarted = await collect(engine, QUESTION, route="restart")
    broken, ok = attempts(events)
    heading = "## Tides\n\n"
    assert broken.output.startswith(heading) and not broken.output.endswith("\n")  # cut mid-paragraph
    final = events[-1]
    assert final.status == "ok" and final.output.count("## Tides") == 1
    assert final.output == broken.output + ok.output and ok.output.startswith("\n\n")
    body = ok.output[2:]
    assert body and not body.startswith("#") and not broken.output.startswith(heading + body[:20])  # it diverged
    assert "".join(e.text for e in events if e.type == "token") == final.output
    assert ok.data == {"repeated_chars": len(heading), "diverged": True}
    kept, dropped = decisions(events, "stream")
    assert kept.data["policy"] == "continue"
    assert dropped.data == {"policy": "continue", "repeated_chars": len(heading), "diverged": True}
    assert restarted[-1].status == "ok" and restarted[-1].output.count("## Tides") == 1


def test_a_continuation_matching_within_one_line_is_not_a_repeat() -> None:
    from workbench.engine.attempt import _Echo

    echo = _Echo(("The moon pulls the sea",))
    assert echo.feed("The mo") == "" and echo.feed("rning tide") == "The morning tide"  # a coincidence: kept whole
    assert echo.dropped == "" and not echo.diverged
    echo = _Echo(("## Tides\n\nThe moon pulls",))
    assert echo.feed("## Tides\n\nThe sun") == "\n\nThe sun" and echo.dropped == "## Tides\n\n" and echo.diverged
