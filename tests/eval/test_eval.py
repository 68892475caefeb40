"""`workbench eval` end to end on the simulator: pass rates and intervals (checked by hand), costs equal to the
stored hops, flaky cases under --repeat, a baseline diff with the regression first, and a cost cap."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from workbench.eval.dataset import load_dataset
from workbench.eval.runner import run_eval
from workbench.eval.stats import newcombe, percentile, wilson
from workbench.profiles.load import loads_profile

PROFILE = """\
name: eval-test
sim: {seed: SEED}
providers:
  oai: {kind: sim, wire: openai}
  ant: {kind: sim, wire: anthropic}
policies:
  retry: {max_attempts: 1}
models:
  short:
    provider: oai
    model: sim-short
    prices: [{input: 0.15, output: 0.6}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30}
  long:
    provider: ant
    model: sim-long
    prices: [{input: 3, output: 15}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 160}
  flaky:
    provider: oai
    model: sim-flaky
    prices: [{input: 0.15, output: 0.6}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30, faults: [{kind: http_503, rate: 0.5}]}
routes:
  terse: {steps: [{name: a, targets: [short]}]}
  wordy: {steps: [{name: a, targets: [long]}]}
  wobbly: {steps: [{name: a, targets: [flaky, long]}]}
"""

# 10 cases: 6 want the topic and a short answer, 2 only the topic, 2 a fact no simulated answer holds.
CASES = [
    *(
        {"id": f"short-{w}", "input": f"{w} questions from a customer", "checks": {"contains": [w], "max_tokens": 100}}
        for w in ("refunds", "invoices", "passwords", "shipping", "warranty", "discounts")
    ),
    *(
        {"id": f"topic-{w}", "input": f"{w} explained", "checks": {"contains": w}}
        for w in ("subscriptions", "webhooks")
    ),
    *(
        {"id": f"fact-{i}", "input": q, "checks": {"regex": r"[\w.]+@[\w.]+\.\w+"}}
        for i, q in enumerate(("What is the support email?", "Which address do I write to?"))
    ),
]


def _write(tmp_path: Path, seed: int = 3, cases: list | None = None) -> tuple[Path, Path]:
    prof = tmp_path / "p.yaml"
    prof.write_text(PROFILE.replace("SEED", str(seed)))
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(c) + "\n" for c in (cases or CASES)))
    return prof, data


def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", "eval", *args], capture_output=True, text=True, timeout=120
    )


def test_wilson_and_newcombe_match_hand_computation() -> None:
    # k=8, n=10, z=1.96: centre (0.8 + 0.19207)/1.384146 = 0.716739, half 0.313616/1.384146 = 0.226577
    assert wilson(8, 10) == pytest.approx((0.490162, 0.943316), abs=1e-5)
    assert wilson(2, 10) == pytest.approx((0.056684, 0.509838), abs=1e-5)
    # k=0: the lower bound is 0 and the upper 2*(z²/2n)/(1+z²/n) = 0.277534
    assert wilson(0, 10) == pytest.approx((0.0, 0.277534), abs=1e-5)
    d, lo, hi = newcombe(8, 10, 2, 10)  # 0.6 - sqrt(.309838²+.309838²) .. 0.6 + sqrt(.143316²+.143316²)
    assert (d, lo, hi) == pytest.approx((0.6, 0.161822, 0.802680), abs=1e-5)
    assert percentile([5, 1, 4, 2, 3], 50) == 3 and percentile(list(range(1, 21)), 95) == 19


def test_eval_two_routes_numbers_equal_the_store(tmp_path: Path) -> None:
    prof, data = _write(tmp_path)
    db = tmp_path / "wb.db"
    proc = _eval("--profile", str(prof), "--dataset", str(data), "--routes", "terse,wordy", "--json", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    terse, wordy = s["routes"]["terse"], s["routes"]["wordy"]
    assert (terse["passed"], terse["runs"]) == (8, 10)  # the 2 fact cases fail
    assert (wordy["passed"], wordy["runs"]) == (2, 10)  # 160-token answers overrun max_tokens 100
    assert terse["pass_rate_ci"] == pytest.approx([0.490162, 0.943316], abs=1e-5)
    assert wordy["pass_rate_ci"] == pytest.approx([0.056684, 0.509838], abs=1e-5)
    pair = s["pairs"][0]
    assert (pair["wins"], pair["ties"], pair["losses"]) == (6, 4, 0) and pair["significant"]
    assert "wordy costs" in s["verdict"] and "significant" in s["verdict"]
    conn = sqlite3.connect(db)
    for route, summary in (("terse", terse), ("wordy", wordy)):
        runs = conn.execute(
            "SELECT r.cost_exact, r.latency_ms, r.id FROM eval_results e JOIN runs r ON r.id = e.run_id"
            " WHERE e.eval_id = ? AND e.route = ?",
            (s["eval_id"], route),
        ).fetchall()
        assert len(runs) == 10
        total = sum((Decimal(c) for c, _, _ in runs), Decimal(0))
        hops = conn.execute(
            "SELECT cost_exact FROM hops WHERE kind = 'attempt' AND run_id IN"
            " (SELECT run_id FROM eval_results WHERE eval_id = ? AND route = ?)",
            (s["eval_id"], route),
        ).fetchall()
        assert Decimal(summary["cost_total_usd"]) == total == sum((Decimal(h[0]) for h in hops), Decimal(0)) > 0
        lat = sorted(x for _, x, _ in runs)
        assert summary["latency_p50_ms"] == lat[4] and summary["latency_p95_ms"] == lat[9]
    conn.close()


def _mixed_seed() -> tuple[int, list[bool]]:
    """A simulator seed whose first three sim-flaky requests neither all fail nor all succeed (from the sim's own
    deterministic fault draws: request i of a model draws from random.Random(f"{seed}|{model}|{i}"))."""
    import random

    for seed in range(100):
        fails = [random.Random(f"{seed}|sim-flaky|{i}").random() < 0.5 for i in (1, 2, 3)]
        if any(fails) and not all(fails):
            return seed, fails
    raise AssertionError("no seed")


async def test_repeat_flags_the_case_whose_answer_flips(tmp_path: Path) -> None:
    seed, fails = _mixed_seed()
    prof, _ = _write(tmp_path, seed=seed)
    loaded = loads_profile(prof.read_text(), prof)
    cases = load_dataset(_write(tmp_path, seed, [CASES[0]])[1]).cases
    result = await run_eval(loaded, cases, ["wobbly"], repeat=3, concurrency=1)
    passed = [o.passed for o in result.outcomes]
    assert passed == [not f for f in fails]  # a 503 falls back to the long model, which overruns max_tokens
    from workbench.eval.report import summarize

    s = summarize(result)["routes"]["wobbly"]
    assert s["flaky_cases"] == ["short-refunds"] and s["pass_all"] == 0.0 and s["pass_any"] == 1.0
    assert s["fallback_rate"] == pytest.approx(sum(fails) / 3)


def test_baseline_puts_the_planted_regression_first(tmp_path: Path) -> None:
    prof, data = _write(tmp_path)
    db = tmp_path / "wb.db"
    first = json.loads(
        _eval("--profile", str(prof), "--dataset", str(data), "--routes", "terse", "--json", "--db", str(db)).stdout
    )
    # plant a regression: the terse route now answers with the long model
    prof.write_text(
        prof.read_text().replace(
            "terse: {steps: [{name: a, targets: [short]}]}", "terse: {steps: [{name: a, targets: [long]}]}"
        )
    )
    proc = _eval(
        "--profile",
        str(prof),
        "--dataset",
        str(data),
        "--routes",
        "terse",
        "--json",
        "--db",
        str(db),
        "--baseline",
        first["eval_id"][:14],
    )
    assert proc.returncode == 0, proc.stderr
    diff = json.loads(proc.stdout)["baseline"]["diff"]
    assert [d["change"] for d in diff[:6]] == ["regression"] * 6
    assert {d["case"] for d in diff[:6]} == {c["id"] for c in CASES[:6]}
    assert all(d["change"] == "same" for d in diff[6:])
    human = _eval(
        "--profile",
        str(prof),
        "--dataset",
        str(data),
        "--routes",
        "terse",
        "--db",
        str(db),
        "--baseline",
        first["eval_id"],
    )
    assert "6 regressions" in human.stdout and human.stdout.index("regression ") < human.stdout.index("terse passes")
    # `last` is the newest eval (the one just above, same profile): nothing changed against it
    again = _eval(
        "--profile", str(prof), "--dataset", str(data), "--routes", "terse", "--json", "--db", str(db),
        "--baseline", "last",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert all(d["change"] == "same" for d in json.loads(again.stdout)["baseline"]["diff"])


def test_cost_cap_stops_cleanly(tmp_path: Path) -> None:
    prof, data = _write(tmp_path)
    proc = _eval(
        "--profile",
        str(prof),
        "--dataset",
        str(data),
        "--routes",
        "wordy",
        "--json",
        "--no-save",
        "--concurrency",
        "1",
        "--max-cost",
        "0.002",
    )
    assert proc.returncode == 1
    s = json.loads(proc.stdout)
    assert s["stopped"] and "cost cap" in s["stopped"] and "stopped: cost cap $0.002 reached after" in proc.stderr
    wordy = s["routes"]["wordy"]
    assert 0 < wordy["runs"] < 10 and wordy["skipped"] == 10 - wordy["runs"]
    # it stops at the first run that reaches the cap: everything before it was under
    assert Decimal(s["spent_usd"]) >= Decimal("0.002")


def test_promptfoo_example_maps_and_unsupported_types_fail_clearly(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    ds = load_dataset(root / "datasets" / "promptfoo-example.yaml")
    refund = ds.cases[0]
    assert refund.input == "A customer asks about refunds: How long does a refund take?"
    assert [(c.type, c.value) for c in refund.checks] == [
        ("not_contains", "sorry"),
        ("max_cost_usd", 0.001),
        ("contains", "refund"),
        ("max_latency_ms", 2500),
    ]
    assert ds.cases[2].checks[-1].type == "json_schema"
    bad = tmp_path / "pf.yaml"
    bad.write_text("tests:\n  - description: one\n    vars: {input: hi}\n    assert: [{type: similar, value: x}]\n")
    proc = _eval("--profile", str(root / "profiles" / "demo.yaml"), "--dataset", str(bad), "--routes", "default")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "pf.yaml" in proc.stderr and "'one'" in proc.stderr and "unsupported assert type 'similar'" in proc.stderr
    js = tmp_path / "js.yaml"
    js.write_text("tests:\n  - vars: {input: hi}\n    assert: [{type: javascript, value: 'output.length > 1'}]\n")
    proc = _eval("--profile", str(root / "profiles" / "demo.yaml"), "--dataset", str(js), "--routes", "default")
    assert proc.returncode != 0 and "runs javascript code" in proc.stderr and "test-1" in proc.stderr


def test_shipped_dataset_loads_with_enough_cases() -> None:
    root = Path(__file__).resolve().parents[2]
    ds = load_dataset(root / "datasets" / "support.jsonl")
    assert len(ds.cases) >= 40 and all(c.checks for c in ds.cases)


def test_native_export_quotes_the_eval_it_came_from(tmp_path: Path) -> None:
    prof, data = _write(tmp_path)
    db = tmp_path / "wb.db"
    s = json.loads(
        _eval("--profile", str(prof), "--dataset", str(data), "--routes", "terse", "--json", "--db", str(db)).stdout
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "export",
            "--profile",
            str(prof),
            "--route",
            "terse",
            "--format",
            "native",
            "--eval",
            s["eval_id"],
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    per_1k = s["routes"]["terse"]["cost_per_1k_runs_usd"]
    assert f"# eval {s['eval_id']}, pass rate 80.0%, ${per_1k} per 1k runs" in proc.stdout


def test_cache_reuses_answers_keeping_original_latency_and_cost(tmp_path: Path) -> None:
    prof, data = _write(tmp_path)
    db = tmp_path / "wb.db"
    args = (
        "--profile",
        str(prof),
        "--dataset",
        str(data),
        "--routes",
        "terse",
        "--repeat",
        "2",
        "--json",
        "--db",
        str(db),
        "--cache",
    )
    first = json.loads(_eval(*args).stdout)
    conn = sqlite3.connect(db)
    runs_before = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert runs_before == 20 and first["routes"]["terse"]["cached"] == 0
    second = json.loads(_eval(*args).stdout)
    t1, t2 = first["routes"]["terse"], second["routes"]["terse"]
    assert t2["cached"] == 20 and Decimal(second["spent_usd"]) == 0
    assert (t2["cost_total_usd"], t2["latency_p50_ms"], t2["passed"]) == (
        t1["cost_total_usd"],
        t1["latency_p50_ms"],
        t1["passed"],
    )
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == runs_before  # nothing was run again
    linked = conn.execute(
        "SELECT count(*) FROM eval_results WHERE eval_id = ? AND cached = 1 AND run_id IN (SELECT id FROM runs)",
        (second["eval_id"],),
    ).fetchone()[0]
    assert linked == 20  # each cached verdict points at the run that produced the answer
    conn.close()


def test_models_option_compares_models_as_one_step_routes(tmp_path: Path) -> None:
    prof, data = _write(tmp_path)
    s = json.loads(
        _eval("--profile", str(prof), "--dataset", str(data), "--models", "short,long", "--json", "--no-save").stdout
    )
    assert list(s["routes"]) == ["model:short", "model:long"]
    assert (s["routes"]["model:short"]["passed"], s["routes"]["model:long"]["passed"]) == (8, 2)


def test_shipped_dataset_on_two_demo_routes(tmp_path: Path) -> None:
    import math

    root = Path(__file__).resolve().parents[2]
    db = tmp_path / "wb.db"
    proc = _eval(
        "--profile",
        str(root / "profiles" / "demo.yaml"),
        "--dataset",
        str(root / "datasets" / "support.jsonl"),
        "--routes",
        "default,budget",
        "--concurrency",
        "42",
        "--json",
        "--db",
        str(db),
    )
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    conn = sqlite3.connect(db)
    for route in ("default", "budget"):
        r = s["routes"][route]
        k = conn.execute(
            "SELECT sum(passed) FROM eval_results WHERE eval_id = ? AND route = ?", (s["eval_id"], route)
        ).fetchone()[0]
        assert r["runs"] == 42 and r["passed"] == k
        assert (
            20 <= k <= 36
        )  # the 6 fact and JSON cases fail on every route; the rest pass unless a fallback or load overruns
        # Wilson by the textbook formula, written out again here
        z, n, p = 1.96, 42, k / 42
        centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert r["pass_rate_ci"] == pytest.approx(
            [(centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)], abs=2e-4
        )
        hops = conn.execute(
            "SELECT cost_exact FROM hops WHERE kind = 'attempt' AND run_id IN"
            " (SELECT run_id FROM eval_results WHERE eval_id = ? AND route = ?)",
            (s["eval_id"], route),
        ).fetchall()
        assert Decimal(r["cost_total_usd"]) == sum((Decimal(h[0]) for h in hops), Decimal(0))
    conn.close()


CAP_PROFILE = """\
name: cap-test
providers:
  sim: {kind: sim}
policies:
  retry: {max_attempts: 1}
models:
  pricey:
    provider: sim
    model: sim-pricey
    max_output_tokens: 200
    prices: [{input: 3, output: 15}]
    sim: {ttft_ms: 150, tokens_per_s: 2000, answer_tokens: 160}
routes:
  one: {steps: [{name: a, targets: [pricey]}]}
"""


def test_cost_cap_holds_within_one_case_at_concurrency(tmp_path: Path) -> None:
    """`--max-cost 0.01 --concurrency 10`: the eval reserves each case's worst case before starting it, so it
    stops having spent at least the cap and at most the cap plus one case — not ten cases in flight at once."""
    prof = tmp_path / "cap.yaml"
    prof.write_text(CAP_PROFILE)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": f"c{i}", "input": f"Question number {i}?"}) + "\n" for i in range(30)))
    db = tmp_path / "wb.db"
    cap = Decimal("0.01")
    proc = _eval(
        *("--profile", str(prof), "--dataset", str(data), "--routes", "one", "--json", "--db", str(db)),
        *("--concurrency", "10", "--max-cost", str(cap)),
    )
    assert proc.returncode == 1, proc.stderr
    s = json.loads(proc.stdout)
    assert s["stopped"] == "cost cap $0.01 reached"
    # one case at most, by hand: a prompt of a few words is under 40 tokens with the chat framing, and the model
    # may write at most its max_output_tokens (200), at $3 and $15 per million tokens
    one_case = (Decimal(40) * 3 + Decimal(200) * 15) / Decimal(1_000_000)
    spent = Decimal(s["spent_usd"])
    assert cap <= spent <= cap + one_case, (spent, cap + one_case)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT started_ts, ended_ts, cost_usd, input_tokens FROM runs").fetchall()
    assert sum(Decimal(str(c)) for *_, c, _ in rows) == spent and all(t < 40 for *_, t in rows)
    # and it still ran cases side by side: some run started before another had ended
    spans = sorted((a, b) for a, b, *_ in rows)
    assert any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))


async def test_a_case_reservation_is_the_engines_own_worst_case() -> None:
    """The eval reserves exactly what the engine reserves before the same call: a route capped a hair below
    `run_worst_case` is refused its call by the engine, and capped at it the call is made."""
    from workbench.engine import Engine
    from workbench.engine.reserve import run_worst_case

    prompt = "How long does a refund take?"
    worst = run_worst_case(loads_profile(CAP_PROFILE).profile, "one", prompt)
    # by hand: at most 200 output tokens at $15/M, and a prompt of a few words (10 to 40 tokens) at $3/M
    assert Decimal(10 * 3 + 200 * 15) / 10**6 <= worst <= Decimal(40 * 3 + 200 * 15) / 10**6
    outcomes = []
    for cap in (worst - Decimal("0.000001"), worst):
        loaded = loads_profile(CAP_PROFILE.replace("one: {steps:", f"one: {{max_cost_usd: {cap}, steps:"))
        async with Engine(loaded) as engine:
            async for ev in engine.run(prompt, route="one"):
                if ev.type == "run_finished":
                    outcomes.append((ev.status, ev.output_tokens))  # type: ignore[attr-defined]
    (below, below_tokens), (at, at_tokens) = outcomes
    assert below == "error" and below_tokens == 0  # refused before the call: nothing spent
    assert at == "ok" and at_tokens > 0
