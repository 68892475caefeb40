"""Real event sequences for the store tests, built from the contract's dataclasses and priced by the contract.

A run here is what the engine yields: run_started, a route decision, per step a step hop enclosing attempt hops
(first_token, tokens, hop_finished with usage, exact cost and price entry), fallback decisions between failed
attempts, and run_finished with the totals. Costs come from `workbench.accounting.usage.cost_of`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
from collections.abc import Sequence
from decimal import Decimal

from workbench.accounting.prices import Price
from workbench.accounting.usage import Usage, cost_of
from workbench.engine.events import (
    Decision,
    Event,
    FirstToken,
    HopFinished,
    HopStarted,
    RunFinished,
    RunStarted,
    Token,
)

PRICES = {
    "swift": Price(
        effective=dt.date(2026, 1, 1), input=Decimal("0.15"), cached_input=Decimal("0.075"), output=Decimal("0.60")
    ),
    "deep": Price(
        effective=dt.date(2026, 1, 1),
        input=Decimal("2.50"),
        cached_input=Decimal("1.25"),
        cache_write_5m=Decimal("3.125"),
        output=Decimal("10"),
        reasoning=Decimal("10"),
    ),
    "local": Price(effective=dt.date(2026, 1, 1), input=Decimal(0), output=Decimal(0)),
}
PROVIDERS = {"swift": "sim", "deep": "openai", "local": "sim"}

PROFILE_TEXT = """\
version: 1
name: store-test
providers:
  sim: {kind: sim}
  openai:
    kind: openai
    base_url: https://api.openai.com/v1
    api_key_env: WB_STORE_TEST_KEY
    headers:
      Authorization: Bearer ${WB_STORE_TEST_KEY}
models:
  swift: {provider: sim, model: swift-1}
  deep: {provider: openai, model: gpt-4o}
routes:
  default:
    steps:
      - {name: answer, targets: [swift, deep]}
"""
PROFILE_HASH = hashlib.sha256(PROFILE_TEXT.encode()).hexdigest()

_ids = itertools.count(1)
_PREFIX = secrets.token_hex(3)  # unique per process: the crash test's children share one database
WORDS = "refund policy invoice shipping delay alpha bravo charlie delta echo foxtrot golf hotel india".split()


def new_run_id() -> str:
    return f"r{_PREFIX}-{next(_ids):06d}"


def run_events(
    run_id: str | None = None,
    *,
    prompt: str = "What is the refund policy for late invoices?",
    route: str = "default",
    steps: Sequence[tuple[str, Sequence[tuple[str, str]]]] = (("answer", (("swift", "ok"),)),),
    t0: float = 1_790_000_000.0,
    answer_words: int = 6,
    profile_hash: str = PROFILE_HASH,
    cached: int = 3,
    reasoning: int = 0,
    cancel_last_hop: bool = False,
) -> list[Event]:
    """One run's events. `steps`: (step name, [(model alias, "ok" | "error" | "timeout"), ...])."""
    run_id = run_id or new_run_id()
    clock = iter(t0 + i * 0.01 for i in itertools.count())
    ev: list[Event] = [
        RunStarted(
            run_id=run_id,
            ts=next(clock),
            route=route,
            prompt=prompt,
            profile="store-test",
            profile_hash=profile_hash,
            profile_path="profiles/store-test.yaml",
        ),
        Decision(
            run_id=run_id, ts=next(clock), hop_id=None, action="route", reason=f"route {route!r}: default", target=route
        ),
    ]
    total = Decimal(0)
    tokens_in = tokens_out = 0
    hop_n = 0
    text = prompt
    status, error = "ok", None
    first_ts: float | None = None
    for step_name, attempts in steps:
        hop_n += 1
        step_id = f"{run_id}.{hop_n}"
        step_start = next(clock)
        ev.append(HopStarted(run_id=run_id, ts=step_start, hop_id=step_id, kind="step", name=step_name))
        step_status, step_output = "error", ""
        for index, (alias, outcome) in enumerate(attempts, 1):
            hop_n += 1
            hop_id = f"{run_id}.{hop_n}"
            started = next(clock)
            ev.append(
                HopStarted(
                    run_id=run_id,
                    ts=started,
                    hop_id=hop_id,
                    parent_id=step_id,
                    kind="attempt",
                    name=alias,
                    provider=PROVIDERS[alias],
                    model=alias,
                    model_id=f"{alias}-1",
                    attempt=index,
                )
            )
            words = [WORDS[(len(text) + i * 7) % len(WORDS)] for i in range(answer_words)]
            if cancel_last_hop and index == len(attempts):
                for w in words[:2]:
                    ev.append(Token(run_id=run_id, ts=next(clock), hop_id=hop_id, text=w + " "))
                status, error = "cancelled", "cancelled by the user"
                break
            got = words if outcome == "ok" else words[:2]
            ft = next(clock)
            first_ts = first_ts or ft
            ev.append(FirstToken(run_id=run_id, ts=ft, hop_id=hop_id, ttft_ms=(ft - started) * 1000))
            for w in got:
                ev.append(Token(run_id=run_id, ts=next(clock), hop_id=hop_id, text=w + " "))
            out_text = "".join(w + " " for w in got).strip()
            prompt_tokens = len(text.split()) + 10
            usage = Usage(
                input_tokens=prompt_tokens - cached,
                cache_read_tokens=cached,
                output_tokens=len(got),
                reasoning_tokens=reasoning,
                input_source="reported",
                output_source="reported",
                estimated_input_tokens=prompt_tokens,
                estimated_output_tokens=len(got),
            )
            cost = cost_of(usage, PRICES[alias])
            total += cost.total
            tokens_in += usage.prompt_tokens
            tokens_out += usage.completion_tokens
            end = next(clock)
            ev.append(
                HopFinished(
                    run_id=run_id,
                    ts=end,
                    hop_id=hop_id,
                    parent_id=step_id,
                    kind="attempt",
                    name=alias,
                    provider=PROVIDERS[alias],
                    model=alias,
                    model_id=f"{alias}-1",
                    attempt=index,
                    status=outcome,  # type: ignore[arg-type]
                    latency_ms=(end - started) * 1000,
                    ttft_ms=(ft - started) * 1000,
                    input_tokens=usage.prompt_tokens,
                    output_tokens=usage.completion_tokens,
                    cost_usd=cost.total,
                    error=None if outcome == "ok" else f"{alias}: HTTP 503 service unavailable",
                    error_class=None if outcome == "ok" else ("timeout" if outcome == "timeout" else "server"),
                    retryable=None if outcome == "ok" else True,
                    usage=usage.to_dict(),
                    cost=cost.to_dict(),
                    price=PRICES[alias].model_dump(mode="json"),
                    started_ts=started,
                    first_token_ts=ft,
                    output=out_text,
                )
            )
            if outcome == "ok":
                step_status, step_output = "ok", out_text
                break
            if index < len(attempts):
                ev.append(
                    Decision(
                        run_id=run_id,
                        ts=next(clock),
                        hop_id=step_id,
                        action="fallback",
                        reason=f"{alias} failed (server); falling back",
                        target=attempts[index][0],
                    )
                )
        if status == "cancelled":
            break  # the step hop never reports its end: the store closes it
        step_end = next(clock)
        ev.append(
            HopFinished(
                run_id=run_id,
                ts=step_end,
                hop_id=step_id,
                kind="step",
                name=step_name,
                status=step_status,  # type: ignore[arg-type]
                latency_ms=(step_end - step_start) * 1000,
                output=step_output,
            )
        )
        if step_status != "ok":
            status, error = "error", f"step {step_name} failed"
            break
        text = step_output
    end = next(clock)
    ev.append(
        RunFinished(
            run_id=run_id,
            ts=end,
            status=status,  # type: ignore[arg-type]
            output=text if status == "ok" else "",
            latency_ms=(end - t0) * 1000,
            ttft_ms=None if first_ts is None else (first_ts - t0) * 1000,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=total,
            cost=str(total),
            error=error,
        )
    )
    return ev


def varied_runs(n: int, *, t0: float = 1_790_000_000.0) -> list[list[Event]]:
    """n runs over several routes, models, outcomes and days (for queries and round trips)."""
    shapes = [
        (("answer", (("swift", "ok"),)),),
        (("answer", (("swift", "error"), ("deep", "ok"))),),
        (("draft", (("local", "ok"),)), ("polish", (("deep", "ok"),))),
        (("answer", (("swift", "timeout"), ("deep", "error"))),),
    ]
    runs = []
    for i in range(n):
        runs.append(
            run_events(
                prompt=f"Question {i}: {WORDS[i % len(WORDS)]} about {WORDS[(i * 3) % len(WORDS)]} — ünïcode ✓",
                route=("default", "careful", "cheap")[i % 3],
                steps=shapes[i % len(shapes)],
                t0=t0 + i * 3600.0 * 7,
                reasoning=i % 3,
                cached=i % 4,
                answer_words=3 + (i * 5) % 9,
            )
        )
    return runs
