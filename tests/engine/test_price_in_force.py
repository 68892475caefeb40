"""A target with no price in force would cost $0 and slip past every cap: a profile warning at load, a `price`
decision at run time, refused under a cap unless the model is declared free. Prices too large to compute with
are profile errors with their line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from workbench.engine import Engine
from workbench.errors import ProfileError
from workbench.profiles.load import loads_profile

FUTURE = (dt.date.today() + dt.timedelta(days=400)).isoformat()

PROFILE = f"""\
version: 2
providers:
  oai: {{kind: sim, wire: openai}}
models:
  typo:
    provider: oai
    model: sim-typo
    prices: [{{effective: {FUTURE}, input: 1, output: 2}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}
  gratis:
    provider: oai
    model: sim-gratis
    free: true
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}
  priced:
    provider: oai
    model: sim-priced
    prices: [{{input: 1, output: 2}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}
routes:
  open: {{steps: [{{name: answer, targets: [typo]}}]}}
  capped:
    max_cost_usd: 1
    steps: [{{name: answer, targets: [typo, gratis]}}]
  capped_priced:
    max_cost_usd: 1
    steps: [{{name: answer, targets: [typo, priced]}}]
"""


def test_load_warns_about_the_target_with_no_price_in_force() -> None:
    loaded = loads_profile(PROFILE, "p.yaml")
    assert loaded.warnings == (
        f"p.yaml:8:5: models.typo.prices: no price in force on {dt.date.today().isoformat()} (the earliest entry"
        f" is effective {FUTURE}); its calls would be costed at $0 and are refused under a cost cap (fix the"
        " `effective` date, add an entry in force, or declare `free: true`)",
    )


async def test_run_time_decision_and_refusal_under_a_cap() -> None:
    loaded = loads_profile(PROFILE)
    async with Engine(loaded) as engine:
        open_run = [e async for e in engine.run("hi", route="open")]
        capped = [e async for e in engine.run("hi", route="capped")]
        capped_priced = [e async for e in engine.run("hi", route="capped_priced")]

    price = [e for e in open_run if e.type == "decision" and e.action == "price"]
    assert len(price) == 1 and price[0].target == "typo" and price[0].data["refused"] is False
    assert open_run[-1].status == "ok" and open_run[-1].cost_usd == 0

    price = [e for e in capped if e.type == "decision" and e.action == "price"]
    assert [(d.target, d.data["refused"]) for d in price] == [("typo", True)]  # gratis is free: no decision
    attempts = [(h.name, h.status, h.error_class) for h in capped if h.type == "hop_finished" and h.kind == "attempt"]
    assert attempts == [("typo", "skipped", "cost_cap"), ("gratis", "ok", None)]
    assert capped[-1].status == "ok"

    attempts = [(h.name, h.status) for h in capped_priced if h.type == "hop_finished" and h.kind == "attempt"]
    assert attempts == [("typo", "skipped"), ("priced", "ok")]
    assert capped_priced[-1].cost_usd > Decimal(0)


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("'1e999999'", "expected a number at most 100000, got '1e999999'"),
        ("1e4000", "expected a finite number, got inf"),
        ("1" + "0" * 400, "expected a number at most 100000"),
    ],
)
def test_prices_beyond_what_can_be_computed_are_errors_with_their_line(value: str, what: str) -> None:
    text = PROFILE.replace("prices: [{input: 1, output: 2}]", f"prices:\n      - input: {value}\n        output: 2")
    with pytest.raises(ProfileError) as info:
        loads_profile(text, "p.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("p.yaml:19:16: models.priced.prices.0.input: " + what), problem


def test_profile_check_prints_the_warning_and_exits_0(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "p.yaml").write_text(PROFILE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "profile", "check", "p.yaml"],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.startswith("ok: p.yaml")
    assert result.stderr.startswith("warning: p.yaml:8:5: models.typo.prices: no price in force on ")
