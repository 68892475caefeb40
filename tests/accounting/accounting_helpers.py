"""Shared parts of the accounting-truth tests: published prices, the test profile, running a route through the
real Engine against the embedded simulator, and the checks every run must pass (hop costs add up to the run's
total, exactly, in the engine's events and in a real SQLite store).

Prices are USD per 1M tokens as the providers publish them (also recorded in /work/shared/FIELD-NOTES.md,
"Prices found", checked 2026-11-25). Tests compute every expected cost by hand from these constants, never
from the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlite_utils

from workbench.engine import CancelToken, Engine
from workbench.engine.events import Event, HopFinished, RunFinished
from workbench.profiles.load import LoadedProfile, loads_profile
from workbench.sim.server import SimServer
from workbench.store import EventWriter
from workbench.tokens import count_messages

D = Decimal
MILLION = D(1_000_000)
ENCODING = "o200k_base"

# --- published prices (USD per 1M tokens) ---------------------------------------------------------------------
OPENAI_PRICING = "https://platform.openai.com/docs/pricing"
ANTHROPIC_PRICING = "https://platform.claude.com/docs/en/about-claude/pricing"
GEMINI_PRICING = "https://ai.google.dev/gemini-api/docs/pricing"

# gpt-4o-mini: input 0.15, cached input 0.075, output 0.60
MINI_IN, MINI_CACHED, MINI_OUT = D("0.15"), D("0.075"), D("0.60")
# o4-mini: input 1.10, output 4.40; reasoning tokens are billed as output tokens
O4_IN, O4_OUT = D("1.10"), D("4.40")
# Gemini 2.5 Flash: input 0.30, output 2.50 ("output price, including thinking tokens")
FLASH_IN, FLASH_OUT = D("0.30"), D("2.50")
# Claude Sonnet 4.x: base input 3, 5-minute cache write 3.75, 1-hour cache write 6, cache hit 0.30, output 15
SONNET_IN, SONNET_W5, SONNET_W1H, SONNET_HIT, SONNET_OUT = D("3"), D("3.75"), D("6"), D("0.30"), D("15")
# Gemini 2.5 Pro: 1.25 in / 10 out for prompts up to 200K tokens; above that the whole request at 2.50 / 15
PRO_IN, PRO_OUT, PRO_LONG_IN, PRO_LONG_OUT = D("1.25"), D("10"), D("2.50"), D("15")

# A prompt long enough for every cache dial below to fit inside it with fresh tokens to spare.
PROMPT = (
    "Our finance team runs a nightly batch that reconciles supplier invoices against the general ledger. "
    "Every request repeats the same long instructions about currencies, rounding rules, tax codes and the "
    "chart of accounts, followed by one invoice. Explain in a few sentences how prompt caching changes what "
    "we pay for those repeated instructions, and what we should watch on the bill."
)

_TIMEOUTS = "timeouts: {first_token: 5, idle: 0.3, total: 20}"
FAST = "ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 40"

PROFILE = f"""
name: accounting-truth
sim: {{seed: 8}}
providers:
  oai: {{kind: sim, wire: openai, {_TIMEOUTS}}}
  ant: {{kind: sim, wire: anthropic, {_TIMEOUTS}}}
  # a real OpenAI-kind provider whose endpoint is down (tests point base_url at a closed loopback port)
  down: {{kind: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: WB_ACCOUNTING_TEST_KEY, {_TIMEOUTS}}}
models:
  gpt-4o-mini:
    provider: oai
    model: gpt-4o-mini
    tokenizer: {ENCODING}
    prices: [{{source: "{OPENAI_PRICING}", input: {MINI_IN}, cached_input: {MINI_CACHED}, output: {MINI_OUT}}}]
    sim: {{{FAST}, cached_tokens: 32}}
  mini-plain:
    provider: oai
    model: gpt-4o-mini-2024-07-18
    tokenizer: {ENCODING}
    prices: [{{source: "{OPENAI_PRICING}", input: {MINI_IN}, cached_input: {MINI_CACHED}, output: {MINI_OUT}}}]
    sim: {{{FAST}}}
  o4-mini:
    provider: oai
    model: o4-mini
    tokenizer: {ENCODING}
    prices: [{{source: "{OPENAI_PRICING}", input: {O4_IN}, output: {O4_OUT}}}]
    sim: {{{FAST}, reasoning_tokens: 192}}
  gemini-2.5-flash:
    provider: oai
    model: gemini-2.5-flash
    tokenizer: {ENCODING}
    prices: [{{source: "{GEMINI_PRICING}", input: {FLASH_IN}, output: {FLASH_OUT}}}]
    sim: {{{FAST}, usage_shape: gemini_openai, reasoning_tokens: 150}}
  sonnet-cache:
    provider: ant
    model: claude-sonnet-4-5
    tokenizer: {ENCODING}
    prices:
      - {{source: "{ANTHROPIC_PRICING}", input: {SONNET_IN}, cache_write_5m: {SONNET_W5},
         cache_write_1h: {SONNET_W1H}, cached_input: {SONNET_HIT}, output: {SONNET_OUT}}}
    sim: {{{FAST}, cached_tokens: 32, cache_write_5m_tokens: 16, cache_write_1h_tokens: 8}}
  sonnet:
    provider: ant
    model: claude-sonnet-4-5-20250929
    tokenizer: {ENCODING}
    prices:
      - {{source: "{ANTHROPIC_PRICING}", input: {SONNET_IN}, cache_write_5m: {SONNET_W5},
         cache_write_1h: {SONNET_W1H}, cached_input: {SONNET_HIT}, output: {SONNET_OUT}}}
    sim: {{{FAST}}}
  # OpenAI-compatible servers that give no usage, each in its own way; priced like gpt-4o-mini
  strict-server:
    provider: oai
    model: local-strict
    tokenizer: {ENCODING}
    prices: [{{input: {MINI_IN}, output: {MINI_OUT}}}]
    sim: {{{FAST}, reject_stream_options: true}}
  silent-server:
    provider: oai
    model: local-silent
    tokenizer: {ENCODING}
    prices: [{{input: {MINI_IN}, output: {MINI_OUT}}}]
    sim: {{{FAST}, omit_stream_usage: true}}
  no-usage-server:
    provider: oai
    model: local-no-usage
    tokenizer: {ENCODING}
    prices: [{{input: {MINI_IN}, output: {MINI_OUT}}}]
    sim: {{{FAST}, usage_shape: none}}
  silent-claude:
    provider: ant
    model: claude-silent
    tokenizer: {ENCODING}
    prices: [{{source: "{ANTHROPIC_PRICING}", input: {SONNET_IN}, output: {SONNET_OUT}}}]
    sim: {{{FAST}, omit_stream_usage: true}}
  # broken streams, priced like gpt-4o-mini
  dropper:
    provider: oai
    model: gpt-4o-mini-drop
    tokenizer: {ENCODING}
    prices: [{{source: "{OPENAI_PRICING}", input: {MINI_IN}, cached_input: {MINI_CACHED}, output: {MINI_OUT}}}]
    sim: {{{FAST}, faults: [{{kind: drop, after_tokens: 7}}]}}
  staller:
    provider: oai
    model: gpt-4o-mini-stall
    tokenizer: {ENCODING}
    prices: [{{source: "{OPENAI_PRICING}", input: {MINI_IN}, cached_input: {MINI_CACHED}, output: {MINI_OUT}}}]
    sim: {{{FAST}, faults: [{{kind: stall, after_tokens: 9}}]}}
  claude-dropper:
    provider: ant
    model: claude-drop
    tokenizer: {ENCODING}
    prices: [{{source: "{ANTHROPIC_PRICING}", input: {SONNET_IN}, output: {SONNET_OUT}}}]
    sim: {{{FAST}, faults: [{{kind: drop, after_tokens: 5}}]}}
  slow:  # slowness is the point: 5 ms a token, so a cancel lands mid-stream
    provider: oai
    model: gpt-4o-mini-slow
    tokenizer: {ENCODING}
    prices: [{{source: "{OPENAI_PRICING}", input: {MINI_IN}, output: {MINI_OUT}}}]
    sim: {{ttft_ms: 0, tokens_per_s: 200, answer_tokens: 300}}
  overrunner:  # a server that ignores max_tokens: only the stream meter can stop it
    provider: oai
    model: gpt-4o-mini-overrun
    tokenizer: {ENCODING}
    prices: [{{source: "{OPENAI_PRICING}", input: {MINI_IN}, output: {MINI_OUT}}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 200, ignore_max_tokens: true}}
  unreachable:
    provider: down
    model: gpt-4o-mini
    tokenizer: {ENCODING}
    prices: [{{source: "{OPENAI_PRICING}", input: {MINI_IN}, cached_input: {MINI_CACHED}, output: {MINI_OUT}}}]
  free:  # a local model: zero prices
    provider: oai
    model: llama3.2-local
    tokenizer: {ENCODING}
    prices: [{{source: local, input: 0, output: 0}}]
    sim: {{{FAST}}}
  unpriced:  # no price entry at all, declared free (undeclared, a cap refuses it: tests/engine/test_price_in_force.py)
    provider: oai
    model: qwen-local
    free: true
    tokenizer: {ENCODING}
    sim: {{{FAST}}}
routes:
  cached: {{steps: [{{name: answer, targets: [gpt-4o-mini]}}]}}
  plain: {{steps: [{{name: answer, targets: [mini-plain]}}]}}
  reasoning: {{steps: [{{name: answer, targets: [o4-mini]}}]}}
  gemini: {{steps: [{{name: answer, targets: [gemini-2.5-flash]}}]}}
  claude_cache: {{steps: [{{name: answer, targets: [sonnet-cache]}}]}}
  claude: {{steps: [{{name: answer, targets: [sonnet]}}]}}
  strict: {{steps: [{{name: answer, targets: [strict-server]}}]}}
  silent: {{steps: [{{name: answer, targets: [silent-server]}}]}}
  no_usage: {{steps: [{{name: answer, targets: [no-usage-server]}}]}}
  silent_claude: {{steps: [{{name: answer, targets: [silent-claude]}}]}}
  drop_then_fallback: {{steps: [{{name: answer, targets: [dropper, mini-plain]}}]}}
  drop_alone: {{retry: {{max_attempts: 1}}, steps: [{{name: answer, targets: [dropper]}}]}}  # one cut stream, no retry
  stall_then_fallback: {{steps: [{{name: answer, targets: [staller, mini-plain]}}]}}
  claude_drop_then_fallback: {{steps: [{{name: answer, targets: [claude-dropper, sonnet]}}]}}
  down_then_fallback: {{steps: [{{name: answer, targets: [unreachable, mini-plain]}}]}}
  slow: {{steps: [{{name: answer, targets: [slow]}}]}}
  refuse: {{max_cost_usd: 0.001, steps: [{{name: answer, targets: [mini-plain]}}]}}
  refuse_then_free: {{max_cost_usd: 0.001, steps: [{{name: answer, targets: [mini-plain, free]}}]}}
  trip: {{steps: [{{name: answer, targets: [overrunner], max_cost_usd: 0.00003, max_output_tokens: 10}}]}}
  free_capped: {{max_cost_usd: 0, steps: [{{name: answer, targets: [free]}}]}}
  unpriced_capped: {{steps: [{{name: answer, targets: [unpriced], max_cost_usd: 0}}]}}
"""


def load(text: str = PROFILE) -> LoadedProfile:
    return loads_profile(text, "accounting-truth.yaml")


def sim_for(loaded: LoadedProfile) -> SimServer:
    """A simulator serving the profile's sim models (started by the caller). Running our own, rather than the
    engine's, lets a test ask how many requests a model received."""
    profile = loaded.profile
    models = {
        m.model: m.sim.model_copy(update={"tokenizer": m.tokenizer or ENCODING})
        for m in profile.models.values()
        if m.sim is not None
    }
    return SimServer(models, seed=profile.sim.seed)


async def run_route(
    loaded: LoadedProfile,
    route: str,
    prompt: str = PROMPT,
    *,
    sim: SimServer,
    cancel: CancelToken | None = None,
    on_event: Callable[[Event, list[Event]], None] | None = None,
    environ: dict[str, str] | None = None,
) -> list[Event]:
    """Every event of one run of `route`; `on_event(event, seen)` is called as each arrives."""
    seen: list[Event] = []
    async with Engine(loaded, sim_server=sim, environ=environ or {}) as engine:
        async for event in engine.run(prompt, route=route, cancel=cancel):
            seen.append(event)
            if on_event is not None:
                on_event(event, seen)
    return seen


def prompt_tokens(model_id: str, prompt: str = PROMPT, system: str | None = None) -> int:
    """The tokenizer's count of the prompt as sent (message framing and reply priming included)."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return count_messages(messages, model=model_id, encoding=ENCODING)


def usd(*pairs: tuple[int, Decimal]) -> Decimal:
    """Hand computation: sum of tokens x USD-per-1M rate, over 1M, exactly."""
    return sum((D(tokens) * rate for tokens, rate in pairs), D(0)) / MILLION


def attempts(events: Iterable[Event]) -> list[HopFinished]:
    return [e for e in events if isinstance(e, HopFinished) and e.kind == "attempt"]


def tokens_of(events: Iterable[Event], hop_id: str) -> str:
    """The text the consumer saw streamed for one hop (its `token` events, joined)."""
    return "".join(e.text for e in events if e.type == "token" and e.hop_id == hop_id)  # type: ignore[attr-defined]


def end_of(events: list[Event]) -> RunFinished:
    end = events[-1]
    assert isinstance(end, RunFinished)
    return end


def check_run_totals(events: list[Event]) -> None:
    """The run's totals are the exact sums of its hops: cost over every hop, tokens over the attempt hops."""
    end = end_of(events)
    hops = [e for e in events if isinstance(e, HopFinished)]
    exact = sum((D(h.cost["total"]) for h in hops if h.cost is not None), D(0))
    assert sum((h.cost_usd for h in hops), D(0)) == exact  # hops without a cost record carry exactly 0
    assert D(end.cost["total"]) == end.cost_usd == exact
    assert end.input_tokens == sum(h.input_tokens for h in attempts(events))
    assert end.output_tokens == sum(h.output_tokens for h in attempts(events))
    assert end.estimated == any(
        h.usage is not None
        and "estimated" in (h.usage["input_source"], h.usage["output_source"])
        and (h.input_tokens or h.output_tokens)
        for h in attempts(events)
    )


def check_store_totals(events: list[Event], loaded: LoadedProfile, db: Path) -> dict[str, Any]:
    """Save the run through the store's EventWriter into a real SQLite file and read it back independently:
    the stored run's exact cost and token totals equal the sums of its stored hops, and the engine's figures.
    Returns the stored run row."""
    end = end_of(events)
    with EventWriter(db, session="accounting", profile=loaded) as writer:
        for event in events:
            writer.submit(event)
    assert writer.errors == [] and writer.notices == [] and writer.saved == 1
    store = sqlite_utils.Database(db)
    try:
        run = store["runs"].get(end.run_id)
        hops = list(store["hops"].rows_where("run_id = ?", [end.run_id], order_by="seq"))
    finally:
        store.close()
    stored_attempts = [h for h in hops if h["kind"] == "attempt"]
    assert D(run["cost_exact"]) == sum((D(h["cost_exact"]) for h in hops), D(0)) == D(end.cost["total"])
    assert run["input_tokens"] == sum(h["input_tokens"] for h in stored_attempts) == end.input_tokens
    assert run["output_tokens"] == sum(h["output_tokens"] for h in stored_attempts) == end.output_tokens
    assert bool(run["estimated"]) == end.estimated
    by_id = {h.hop_id: h for h in attempts(events)}
    assert {h["hop_id"] for h in stored_attempts} == set(by_id)
    for row in stored_attempts:
        hop = by_id[row["hop_id"]]
        assert D(row["cost_exact"]) == hop.cost_usd
        usage = hop.usage or {}
        assert (
            row["usage_input"],
            row["usage_cache_read"],
            row["usage_cache_write_5m"],
            row["usage_cache_write_1h"],
            row["usage_output"],
            row["usage_reasoning"],
        ) == (
            usage.get("input_tokens"),
            usage.get("cache_read_tokens"),
            usage.get("cache_write_5m_tokens"),
            usage.get("cache_write_1h_tokens"),
            usage.get("output_tokens"),
            usage.get("reasoning_tokens"),
        )
    return run


def check_totals(events: list[Event], loaded: LoadedProfile, tmp_path: Path) -> None:
    """Both invariants at once, for the end of each test."""
    check_run_totals(events)
    check_store_totals(events, loaded, tmp_path / "accounting.db")


async def wire_frames(sim: SimServer, wire: str, model_id: str, prompt: str = PROMPT) -> list[dict[str, Any]]:
    """What the simulator sends on the wire for the request the engine makes (same messages, same max_tokens),
    as parsed SSE data objects: proof of the usage shape each test dials."""
    messages = [{"role": "user", "content": prompt}]
    async with httpx.AsyncClient(timeout=10) as client:
        if wire == "openai":
            body = {
                "model": model_id,
                "messages": messages,
                "max_tokens": 4096,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            response = await client.post(f"{sim.base_url}/v1/chat/completions", json=body)
        else:
            body = {"model": model_id, "messages": messages, "max_tokens": 4096, "stream": True}
            response = await client.post(
                f"{sim.base_url}/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
            )
    assert response.status_code == 200, response.text
    frames = []
    for line in response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            frames.append(json.loads(line[len("data: ") :]))
    return frames
