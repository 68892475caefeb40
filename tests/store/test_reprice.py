"""`workbench sessions reprice`: saved runs re-costed from their stored usage buckets on a profile's prices.

Runs come from the real Engine against the embedded simulator (OpenAI and Anthropic usage shapes with cache
reads, 5-minute and 1-hour cache writes and reasoning tokens), or from real event objects saved with
`save_events` where exact token counts are needed for literal figures. Expected costs are computed here by hand
from the published formula (bucket x rate / 1M), not with `cost_of`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from store_events import run_events

from workbench.profiles.load import load_profile
from workbench.store import open_store, save_events
from workbench.store.reprice import RepriceError, delta_pct, open_readonly, reprice

M = Decimal(1_000_000)
SIM = "sim: {ttft_ms: 0, tokens_per_s: 100000"
RUN_PROFILE = f"""\
name: reprice-runs
sim: {{seed: 3}}
providers:
  oai: {{kind: sim, wire: openai}}
  ant: {{kind: sim, wire: anthropic}}
models:
  mini:
    provider: oai
    model: sim-mini
    prices: [{{effective: 2026-01-01, input: 0.15, cached_input: 0.075, output: 0.60}}]
    {SIM}, answer_tokens: 30, cached_tokens: 8, reasoning_tokens: 5}}
  claude:
    provider: ant
    model: sim-claude
    prices: [{{effective: 2026-01-01, input: 3, cached_input: 0.30, cache_write_5m: 3.75, cache_write_1h: 6, output: 15}}]
    {SIM}, answer_tokens: 25, cached_tokens: 4, cache_write_5m_tokens: 6, cache_write_1h_tokens: 5}}
  legacy:
    provider: oai
    model: sim-legacy
    prices: [{{effective: 2026-01-01, input: 1, output: 2}}]
    {SIM}, answer_tokens: 10}}
routes:
  plain: {{steps: [{{name: answer, targets: [mini]}}]}}
  careful: {{steps: [{{name: answer, targets: [claude]}}]}}
  two_steps: {{steps: [{{name: draft, targets: [mini]}}, {{name: polish, targets: [claude]}}]}}
  old: {{steps: [{{name: answer, targets: [legacy]}}]}}
"""
PROMPT = (
    "Explain why a connection pool with keep-alive reduces the latency of many small requests to the same"
    " host, and when a pool that is too small makes things worse instead"
)


def _profile(tmp_path: Path, name: str, models: str) -> Path:
    """A pricing profile (only the prices matter; the simulator providers make it valid)."""
    path = tmp_path / f"{name}.yaml"
    first = models.split(":")[0].strip()
    path.write_text(
        f"name: {name}\nproviders:\n  sim: {{kind: sim}}\nmodels:\n{models}"
        f"routes:\n  any: {{steps: [{{name: a, targets: [{first}]}}]}}\n"
    )
    return path


def _model(alias: str, prices: str) -> str:
    return f"  {alias}:\n    provider: sim\n    model: {alias}-x\n    prices: {prices}\n"


def _hand(
    hop: dict[str, Any],
    input: str,
    output: str,
    cached: str | None = None,
    w5: str | None = None,
    w1h: str | None = None,
    reasoning: str | None = None,
) -> Decimal:
    """bucket x rate / 1M, the rates as a price sheet states them (omitted ones default as documented)."""
    r_in, r_out = Decimal(input), Decimal(output)
    rate = {
        "usage_input": r_in,
        "usage_cache_read": Decimal(cached or input),
        "usage_cache_write_5m": Decimal(w5 or input),
        "usage_cache_write_1h": Decimal(w1h or input),
        "usage_output": r_out,
        "usage_reasoning": Decimal(reasoning or output),
    }
    return sum((hop[col] * r for col, r in rate.items()), Decimal(0)) / M


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def engine_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five runs made by the Engine against the simulator and saved by the EventWriter (read-only afterwards)."""
    from workbench.engine import Engine
    from workbench.store import EventWriter

    folder = tmp_path_factory.mktemp("reprice")
    (folder / "runs.yaml").write_text(RUN_PROFILE)
    loaded = load_profile(folder / "runs.yaml")
    db = folder / "engine.db"

    async def make() -> None:
        writer = EventWriter(db, session="tuning", profile=loaded)
        async with Engine(loaded) as engine:
            for i, route in enumerate(("plain", "careful", "two_steps", "plain", "old")):
                async for event in engine.run(PROMPT + " please" * i, route=route):
                    writer.submit(event)
        writer.close()
        assert writer.errors == [] and writer.saved == 5

    asyncio.run(make())
    return db


def _attempts(db: Path) -> dict[tuple[str, str], dict[str, Any]]:
    rows = sqlite_utils.Database(db).query("SELECT * FROM hops WHERE kind = 'attempt'")
    return {(h["run_id"], h["hop_id"]): h for h in rows}


def _run(db: Path, loaded: Any, *refs: str, **kw: Any) -> Any:
    with open_readonly(db) as store:
        return reprice(store, loaded, refs, **kw)


def test_same_profile_and_day_reproduce_the_stored_costs(engine_db: Path) -> None:
    hops = _attempts(engine_db)
    buckets = {
        col: sum(h[col] for h in hops.values())
        for col in ("usage_cache_read", "usage_cache_write_5m", "usage_cache_write_1h", "usage_reasoning")
    }
    assert all(buckets.values()), buckets  # every bucket is exercised
    result = _run(engine_db, load_profile(engine_db.parent / "runs.yaml"))
    stored = {r["id"]: Decimal(r["cost_exact"]) for r in sqlite_utils.Database(engine_db)["runs"].rows}
    assert {r.run_id: r.original for r in result.runs} == stored
    assert all(r.repriced == r.original and r.delta == 0 for r in result.runs)
    assert result.original == result.repriced == sum(stored.values()) and result.delta == 0
    assert sum(len(r.hops) for r in result.runs) == len(hops) and result.unpriced() == []
    for r in result.runs:
        for h in r.hops:
            assert h.repriced == Decimal(hops[(r.run_id, h.hop_id)]["cost_exact"]) and h.priced_as == h.model
    assert result.to_dict()["total"]["delta"] == "0"


def test_changed_prices_give_the_hand_computed_figures(engine_db: Path, tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        "new",
        _model("mini", "[{input: 0.20, cached_input: 0.05, output: 0.80}]")
        + _model(
            "claude",
            "[{input: 2, cached_input: 0.2, cache_write_5m: 2.5, cache_write_1h: 4, output: 10, reasoning: 12}]",
        ),
    )
    result = _run(engine_db, load_profile(profile))
    hops = _attempts(engine_db)
    rates = {
        "mini": dict(input="0.20", cached="0.05", output="0.80"),
        "claude": dict(input="2", cached="0.2", w5="2.5", w1h="4", output="10", reasoning="12"),
    }
    expected_total = Decimal(0)
    for r in result.runs:
        expected = Decimal(0)
        for h in r.hops:
            row = hops[(r.run_id, h.hop_id)]
            if row["model"] == "legacy":  # not in this profile: original cost kept, reported
                assert (h.repriced, h.priced_as, h.unpriced) == (
                    Decimal(row["cost_exact"]),
                    None,
                    "model 'legacy' is not in the profile",
                )
            else:
                assert h.repriced == _hand(row, **rates[row["model"]]), row
            expected += h.repriced
        assert r.repriced == expected and r.delta == expected - r.original
        expected_total += expected
    assert result.repriced == expected_total and len(result.unpriced()) == 1


def test_literal_figures_and_a_long_context_tier_crossed_by_one_token(tmp_path: Path) -> None:
    db = tmp_path / "tier.db"
    at = run_events(prompt="What is the refund policy for late invoices?")  # 18 prompt tokens: 15 + 3 cached
    over = run_events(prompt="What is the refund policy for late invoices today?")  # 19: 16 + 3 cached
    with open_store(db) as store:
        save_events(store, at + over)
    profile = _profile(
        tmp_path,
        "tiered",
        _model(
            "swift",
            "[{input: 1, cached_input: 0.1, output: 2, tiers: [{above_input_tokens: 18, input: 2, output: 4}]}]",
        ),
    )
    result = _run(db, load_profile(profile))
    by_id = {r.run_id: r for r in result.runs}
    first, second = by_id[at[0].run_id], by_id[over[0].run_id]
    # stored on swift at 0.15/0.075/0.60: 15x0.15 + 3x0.075 + 6x0.60 = 6.075 per 1M
    assert first.original == second.original - Decimal("0.00000015") == Decimal("0.000006075")
    # exactly at the threshold stays at base rates: 15x1 + 3x0.1 + 6x2 = 27.3 per 1M
    assert first.repriced == Decimal("0.0000273") and first.hops[0].tier is None
    # one token over: the whole request at the tier (cached scales with input, 0.1x2/1): 16x2 + 3x0.2 + 6x4
    assert second.repriced == Decimal("0.0000566") and second.hops[0].tier == 0
    assert result.repriced == Decimal("0.0000839")
    as_deep = _run(db, load_profile(profile_of_deep(tmp_path)), at[0].run_id, model="deep")
    assert [r.repriced for r in as_deep.runs] == [Decimal("0.00010125")]  # 15x2.5 + 3x1.25 + 6x10


def profile_of_deep(tmp_path: Path) -> Path:
    return _profile(tmp_path, "deep", _model("deep", "[{input: 2.5, cached_input: 1.25, output: 10}]"))


def test_on_picks_the_entry_in_force_that_day(engine_db: Path, tmp_path: Path) -> None:
    two = (
        "[{effective: 2026-01-01, input: 0.10, cached_input: 0.01, output: 0.40},"
        " {effective: 2026-06-01, input: 0.30, cached_input: 0.03, output: 1.20, reasoning: 2}]"
    )
    loaded = load_profile(_profile(tmp_path, "dated", _model("mini", two)))
    hops = _attempts(engine_db)
    minis = [h for h in hops.values() if h["model"] == "mini"]
    old = _run(engine_db, loaded, route="plain", on=dt.date(2026, 3, 1))
    new = _run(engine_db, loaded, route="plain")  # today: the June entry is in force
    assert len(old.runs) == len(new.runs) == 2
    for result, day, rates in (
        (old, "2026-01-01", dict(input="0.10", cached="0.01", output="0.40")),
        (new, "2026-06-01", dict(input="0.30", cached="0.03", output="1.20", reasoning="2")),
    ):
        assert result.repriced == sum(
            (_hand(h, **rates) for h in minis if h["run_id"] in {r.run_id for r in result.runs}), Decimal(0)
        )
        assert {h.price_effective for r in result.runs for h in r.hops} == {day}
    before = _run(engine_db, loaded, route="plain", on=dt.date(2025, 12, 31))
    assert before.delta == 0 and {h.unpriced for _, h in before.unpriced()} == {
        "model 'mini' has no price in force on 2025-12-31"
    }


def test_model_override_reprices_every_attempt_including_cache_buckets(engine_db: Path, tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        "onto",
        _model(
            "opus",
            "[{effective: 2026-01-01, input: 5, cached_input: 0.5, cache_write_5m: 6.25, cache_write_1h: 10, output: 25}]",
        ),
    )
    result = _run(engine_db, load_profile(profile), model="opus")
    hops = _attempts(engine_db)
    assert result.unpriced() == [] and len(result.runs) == 5  # legacy's run too: every attempt is priced as opus
    for r in result.runs:
        for h in r.hops:
            row = hops[(r.run_id, h.hop_id)]
            assert h.priced_as == "opus" and h.model == row["model"]
            assert h.repriced == _hand(row, input="5", cached="0.5", w5="6.25", w1h="10", output="25")
    claude_hop = next(h for h in hops.values() if h["model"] == "claude")
    assert claude_hop["usage_cache_write_5m"] == 6 and claude_hop["usage_cache_write_1h"] == 5
    with open_readonly(engine_db) as store:
        with pytest.raises(RepriceError, match="'gpt-9' is not a model of the profile"):
            reprice(store, load_profile(profile), model="gpt-9")
        with pytest.raises(RepriceError, match="no price in force on 2020-01-01"):
            reprice(store, load_profile(profile), model="opus", on=dt.date(2020, 1, 1))


def test_selection_by_id_session_route_and_utc_days(tmp_path: Path) -> None:
    db = tmp_path / "days.db"
    day = 86_400.0
    t0 = dt.datetime(2026, 9, 1, 12, tzinfo=dt.UTC).timestamp()
    runs = [run_events(t0=t0 + i * day, route=("a", "b")[i % 2]) for i in range(4)]
    with open_store(db) as store:
        save_events(store, [e for r in runs[:2] for e in r], session="s1")
        save_events(store, [e for r in runs[2:] for e in r], session="s2")
    ids = [r[0].run_id for r in runs]
    loaded = load_profile(profile_of_deep(tmp_path))

    def picked(*refs: str, **kw: Any) -> list[str]:
        return [r.run_id for r in _run(db, loaded, *refs, **kw).runs]

    assert picked() == ids
    assert picked(since=dt.date(2026, 9, 2), until=dt.date(2026, 9, 3)) == ids[1:3]
    assert picked(session="s2", route="a") == [ids[2]]
    assert picked(ids[3], ids[0], ids[0]) == [ids[0], ids[3]]
    with pytest.raises(RepriceError, match=r"no runs selected .*\(--session s1, --since 2026-09-03\)"):
        picked(session="s1", since=dt.date(2026, 9, 3))
    with pytest.raises(RepriceError, match="is after --until"):
        picked(since=dt.date(2026, 9, 3), until=dt.date(2026, 9, 2))


def test_the_database_is_never_modified(engine_db: Path, tmp_path: Path) -> None:
    before = _sha(engine_db)
    result = _run(engine_db, load_profile(profile_of_deep(tmp_path)), model="deep")
    assert result.delta != 0
    with open_readonly(engine_db) as store:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.conn.execute("UPDATE runs SET cost_exact = '1'")
    out = _wb(
        tmp_path,
        "sessions",
        "reprice",
        "--db",
        str(engine_db),
        "--profile",
        str(profile_of_deep(tmp_path)),
        "--model",
        "deep",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert _sha(engine_db) == before


def _wb(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def test_cli_table_json_and_warning(engine_db: Path, tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        "new",
        _model("mini", "[{input: 0.20, cached_input: 0.05, output: 0.80}]")
        + _model("claude", "[{input: 3, cached_input: 0.30, cache_write_5m: 3.75, cache_write_1h: 6, output: 15}]"),
    )
    expected = _run(engine_db, load_profile(profile))
    base = ("sessions", "reprice", "--db", str(engine_db), "--profile", str(profile))
    shown = _wb(tmp_path, *base)
    assert shown.returncode == 0, shown.stderr
    for head in ("run", "route", "started", "original", "repriced", "delta", "delta %", "total"):
        assert head in shown.stdout
    for r in expected.runs:
        line = next(x for x in shown.stdout.splitlines() if r.run_id in x)
        assert f"${r.original.normalize():f}" in line and f"${r.repriced.normalize():f}" in line
    total = next(x for x in shown.stdout.splitlines() if x.strip().startswith("total"))
    sign = "+" if expected.delta > 0 else "-"
    assert expected.delta and f"${expected.repriced.normalize():f}" in total
    assert f"{sign}${abs(expected.delta).normalize():f}" in total
    assert f"{delta_pct(expected.original, expected.repriced):+}%" in total
    assert (
        "warning: 1 hop(s) in 1 run(s) kept their original cost: model 'legacy' is not in the profile" in shown.stderr
    )

    as_json = _wb(tmp_path, *base, "--json", "--route", "plain")
    data = json.loads(as_json.stdout)
    plain = [r for r in expected.runs if r.route == "plain"]
    assert [r["id"] for r in data["runs"]] == [r.run_id for r in plain]
    assert [Decimal(r["repriced"]) for r in data["runs"]] == [r.repriced for r in plain]
    total_json = data["total"]
    assert Decimal(total_json["repriced"]) == sum((r.repriced for r in plain), Decimal(0))
    assert Decimal(total_json["delta"]) == Decimal(total_json["repriced"]) - Decimal(total_json["original"])
    assert total_json["runs"] == 2 and total_json["unpriced_hops"] == 0 and as_json.stderr == ""
    assert isinstance(total_json["delta_pct"], str) and data["on"] == dt.date.today().isoformat()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nosuchrun",), "no run with id 'nosuchrun'"),
        (("--session", "nope"), "no runs selected"),
        (("--model", "gpt-9"), "--model 'gpt-9' is not a model of the profile"),
        (("--on", "2026-13-01"), "'2026-13-01' is not a date (expected YYYY-MM-DD"),
        (("--since", "last week"), "'last week' is not a date"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(
    engine_db: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = _wb(
        tmp_path, "sessions", "reprice", "--db", str(engine_db), "--profile", str(profile_of_deep(tmp_path)), *args
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_cli_help_says_read_only(tmp_path: Path) -> None:
    done = _wb(tmp_path, "sessions", "reprice", "--help")
    assert done.returncode == 0 and "Read-only: the database is never modified" in " ".join(done.stdout.split())
