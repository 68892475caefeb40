"""Tool calls through the engine (issue 21 item 1): a step offers tools (from the profile), the simulator calls
them over loopback through either adapter, and the run's events carry each whole call (`tool_call`), the
attempt's normalized finish reason and any content kind the adapter does not know (`unsupported_content`);
arguments that are not JSON fail the attempt `malformed` (then the fallback answers); the answer text stays text.
Token estimates and cost cover the tool definitions and the calls: expected figures are computed here from the
tokenizer and the prices, by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from workbench.engine import Engine
from workbench.engine.events import ContentUnsupported, Event, HopFinished, HopKind, RunFinished, ToolCalled
from workbench.errors import ProfileError
from workbench.profiles.load import loads_profile
from workbench.tokens import count_messages, count_text

TOOLS_YAML = """
        tools:
          - name: get_weather
            description: Get the weather for a city
            parameters: {type: object, properties: {city: {type: string}, days: {type: integer, default: 2}}}
          - name: search_docs
            description: Search the docs
            parameters: {type: object, properties: {query: {type: string}}}
"""
TOOLS = [
    {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 2}},
        },
    },
    {
        "name": "search_docs",
        "description": "Search the docs",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
]
PROFILE = f"""
version: 2
sim: {{seed: 5}}
providers:
  oai: {{kind: sim, wire: openai, timeouts: {{first_token: 5, idle: 5, total: 20}}}}
  ant: {{kind: sim, wire: anthropic, timeouts: {{first_token: 5, idle: 5, total: 20}}}}
models:
  gpt:
    provider: oai
    model: sim-gpt
    prices: [{{input: 1, output: 4}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, parallel_tool_calls: true, tool_argument_pieces: 6}}
  quiet:
    provider: oai
    model: sim-quiet
    prices: [{{input: 2, output: 8}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, usage_shape: none}}
  claude:
    provider: ant
    model: sim-claude
    prices: [{{input: 3, output: 15}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, unknown_content: true, tool_argument_pieces: 4}}
  broken:
    provider: oai
    model: sim-broken
    prices: [{{input: 1, output: 4}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, faults: [{{kind: tool_arguments_malformed}}]}}
routes:
  openai:
    steps:
      - name: answer
        targets: [gpt]{TOOLS_YAML}
  anthropic:
    steps:
      - name: answer
        targets: [claude]{TOOLS_YAML}
  estimated:
    steps:
      - name: answer
        targets: [quiet]{TOOLS_YAML}
  fallback:
    steps:
      - name: answer
        targets: [broken, claude]
        retry: {{max_attempts: 1}}{TOOLS_YAML}
  plain: {{steps: [{{name: answer, targets: [claude]}}]}}
  strict:
    steps:
      - name: answer
        targets: [claude, gpt]
        unsupported_content: fail
        retry: {{max_attempts: 1}}{TOOLS_YAML}
"""
ASK = "what is the weather? city=Paris"


async def run(route: str, text: str = ASK) -> list[Event]:
    async with Engine(loads_profile(PROFILE)) as engine:
        return [e async for e in engine.run(text, route=route)]


def attempts(events: list[Event]) -> list[HopFinished]:
    return [e for e in events if isinstance(e, HopFinished) and e.kind == HopKind.ATTEMPT]


@pytest.mark.parametrize("route", ["openai", "anthropic"])
async def test_tool_calls_come_out_as_events_and_the_answer_stays_text(route: str) -> None:
    events = await run(route)
    (hop,) = attempts(events)
    calls = [e for e in events if isinstance(e, ToolCalled)]
    assert hop.status == "ok" and hop.finish_reason == "tool_calls" and hop.output == ""
    assert all(c.hop_id == hop.hop_id for c in calls)
    assert events.index(calls[-1]) < events.index(hop)  # the calls come before their attempt's end
    if route == "openai":  # the dial makes two calls, arguments split over six deltas each
        assert [(c.index, c.name, json.loads(c.arguments)) for c in calls] == [
            (0, "get_weather", {"city": "Paris", "days": 2}),
            (1, "search_docs", {"query": "<query>"}),
        ]
    else:
        assert [(c.index, c.name, json.loads(c.arguments)) for c in calls] == [
            (0, "get_weather", {"city": "Paris", "days": 2})
        ]
        odd = [e for e in events if isinstance(e, ContentUnsupported)]
        assert [e.content_kind for e in odd] == ["content_block:hologram", "delta:hologram_delta"]
    assert len({c.call_id for c in calls}) == len(calls) and all(c.call_id for c in calls)
    final = events[-1]
    assert isinstance(final, RunFinished) and final.status == "ok" and final.output == ""


async def test_text_answer_has_finish_reason_stop_and_no_calls() -> None:
    events = await run("plain")
    (hop,) = attempts(events)
    assert hop.finish_reason == "stop" and hop.output and not [e for e in events if isinstance(e, ToolCalled)]


async def test_malformed_arguments_fail_the_attempt_and_the_fallback_answers() -> None:
    events = await run("fallback")
    bad, good = attempts(events)
    assert bad.status == "error" and bad.error_class == "malformed" and "not valid JSON" in (bad.error or "")
    calls = [e for e in events if isinstance(e, ToolCalled)]
    assert [c.hop_id for c in calls] == [good.hop_id]  # nothing of the broken call is passed on
    assert good.status == "ok" and good.finish_reason == "tool_calls"


async def test_prompt_estimate_counts_the_tools_and_matches_the_provider() -> None:
    (hop,) = attempts(await run("openai"))
    assert hop.usage is not None
    expected = count_messages([{"role": "user", "content": ASK}], model="sim-gpt", tools=TOOLS)
    assert expected > count_messages([{"role": "user", "content": ASK}], model="sim-gpt") + 20
    assert hop.usage["estimated_input_tokens"] == expected == hop.input_tokens  # reported by the simulator


async def test_without_reported_usage_the_calls_are_estimated_and_costed() -> None:
    (hop,) = attempts(await run("estimated"))
    arguments = json.dumps({"city": "Paris", "days": 2}, separators=(",", ":"))
    prompt = count_messages([{"role": "user", "content": ASK}], model="sim-quiet", tools=TOOLS)
    output = count_text("get_weather") + count_text(arguments)
    assert hop.usage is not None and hop.usage["output_source"] == "estimated"
    assert (hop.input_tokens, hop.output_tokens) == (prompt, output)
    assert hop.cost_usd == (Decimal(prompt) * 2 + Decimal(output) * 8) / Decimal(1_000_000)


def test_the_cli_shows_the_calls_and_prints_them_in_json(tmp_path: Path) -> None:
    profile = tmp_path / "tools.yaml"
    profile.write_text(PROFILE)
    base = [sys.executable, "-m", "workbench", "run", "--profile", str(profile), "--route", "anthropic", ASK]
    human = subprocess.run([*base, "--no-save"], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert human.returncode == 0, human.stderr
    shown = human.stdout + human.stderr  # (the answer goes to stdout, the run's account to stderr)
    assert 'tool call get_weather {"city":"Paris","days":2}' in shown
    assert "content of a kind not understood: content_block:hologram" in shown
    lines = subprocess.run([*base, "--json", "--no-save"], capture_output=True, text=True, timeout=120)
    kinds = [json.loads(line)["type"] for line in lines.stdout.splitlines()]
    assert kinds.count("tool_call") == 1 and kinds.count("unsupported_content") == 2


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (
            "{name: a, targets: [gpt], tools: [{name: f}], tool_choice: g}",
            "tool_choice 'g' is not one of the step's tools",
        ),
        ("{name: a, targets: [gpt], tools: [{name: f}, {name: f}]}", "a name is given twice (f)"),
        (
            "{name: a, targets: [gpt], tools: [{name: f, parameters: {type: array}}]}",
            "must be a JSON Schema of `type: object`",
        ),
        ("{name: a, targets: [gpt], tools: [{name: 'has space'}]}", "name"),
        ("{name: a, targets: [gpt], tool_choice: required}", "need `tools` on the step"),
    ],
)
def test_bad_tools_in_a_profile_are_profile_errors(step: str, words: str) -> None:
    text = PROFILE.split("routes:")[0] + f"routes:\n  r: {{steps: [{step}]}}\n"
    with pytest.raises(ProfileError) as caught:
        loads_profile(text)
    assert words in str(caught.value.problems)


THINKING_PROFILE = """
version: 2
providers:
  oai: {kind: sim, wire: openai}
  ant: {kind: sim, wire: anthropic}
models:
  gpt: {provider: oai, model: sim-gpt, prices: [{input: 1, output: 4}], sim: {ttft_ms: 0, tokens_per_s: 100000, show_thinking: true, usage_shape: none}}
  claude: {provider: ant, model: sim-claude, prices: [{input: 3, output: 15}], sim: {ttft_ms: 0, tokens_per_s: 100000, show_thinking: true}}
routes:
  openai: {steps: [{name: answer, targets: [gpt]}]}
  anthropic: {steps: [{name: answer, targets: [claude]}]}
"""


@pytest.mark.parametrize("route", ["openai", "anthropic"])
async def test_shown_thinking_is_counted_never_answer(route: str) -> None:
    text = "Why does bread rise?"
    thought = "The question is about: Why does bread rise?. I will answer it plainly and check the facts first."
    async with Engine(loads_profile(THINKING_PROFILE)) as engine:
        events = [e async for e in engine.run(text, route=route)]
    (hop,) = attempts(events)
    streamed = "".join(e.text for e in events if e.type == "token")  # type: ignore[attr-defined]
    assert hop.output and thought not in hop.output and thought not in streamed and streamed == hop.output
    # estimated (no usage reported): the shown thinking is the reasoning bucket; Anthropic reports thinking inside
    # output_tokens with no separate count, and the provider's figures win
    assert hop.usage is not None
    assert hop.usage["reasoning_tokens"] == (count_text(thought) if route == "openai" else 0)
    # reported (Anthropic: inside output_tokens) or estimated (no usage): the reasoning is in the output figure
    assert hop.output_tokens == count_text(hop.output) + count_text(thought)


async def test_unsupported_content_fails_the_attempt_when_the_step_says_so() -> None:
    events = await run("strict")
    odd, good = attempts(events)
    assert odd.name == "claude" and odd.status == "error" and odd.error_class == "malformed"
    assert "content_block:hologram" in (odd.error or "")
    reported = [e for e in events if isinstance(e, ContentUnsupported)]
    assert [(e.hop_id, e.content_kind) for e in reported] == [(odd.hop_id, "content_block:hologram")]
    assert not [e for e in events if isinstance(e, ToolCalled) and e.hop_id == odd.hop_id]
    assert good.name == "gpt" and good.status == "ok" and good.finish_reason == "tool_calls"
