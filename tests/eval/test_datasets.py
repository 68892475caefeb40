"""Dataset files: CSV and JSONL shapes, messages as history, and bad input named by file, line, case and type."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.eval.checks import Observation, score
from workbench.eval.dataset import DatasetError, load_dataset
from workbench.eval.runner import parse_score, run_eval
from workbench.profiles.load import loads_profile


def test_csv_cases_with_checks_and_metadata(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("id,input,contains,max_tokens,meta.tier\nr1,How do refunds work?,refund|work,50,gold\nr2,Hello,,,\n")
    ds = load_dataset(f)
    r1, r2 = ds.cases
    assert r1.metadata == {"tier": "gold"} and [(c.type, c.value) for c in r1.checks] == [
        ("contains", ["refund", "work"]),
        ("max_tokens", 50),  # read as the number it stands for (a text "1e999" or "lots" is refused at load)
    ]
    assert r2.checks == [] and r2.input == "Hello"
    ok = score(r1.checks, Observation("Refunds WORK like this", output_tokens=50))
    assert ok.passed
    bad = score(r1.checks, Observation("refund", output_tokens=51))
    assert not bad.passed and [r.detail for r in bad.results] == ["missing 'work'", "51 output tokens > 50"]


def test_messages_become_history(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(
        '{"id": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},'
        ' {"role": "user", "content": "and refunds?"}], "checks": [{"type": "regex", "value": "refund"}]}\n'
    )
    (case,) = load_dataset(f).cases
    assert case.input == "and refunds?" and case.history == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (
            '{"id": "x", "input": "q", "checks": {"similarity": 0.8}}',
            ["d.jsonl:2", "case 'x'", "unknown check type 'similarity'"],
        ),
        ('{"id": "y", "input": "q", "checks": {"regex": "("}}', ["d.jsonl:2", "case 'y'", "does not compile"]),
        ('{"id": "z", "checks": {}}', ["d.jsonl:2", "case 'z'", "needs an `input`"]),
        (
            '{"id": "w", "input": "q", "checks": {"max_tokens": "lots"}}',
            ["case 'w'", "checks.max_tokens: expected a whole number from 0 to 10,000,000"],
        ),
        ("not json", ["d.jsonl:2", "not JSON"]),
    ],
)
def test_bad_cases_are_named(tmp_path: Path, line: str, words: list[str]) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"id": "ok", "input": "fine"}\n' + line + "\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(f)
    for w in words:
        assert w in str(err.value)


def test_judge_score_parsing() -> None:
    assert parse_score("0.8\nBecause it is clear.") == 0.8
    assert parse_score("Score: 1") == 1.0 and parse_score("score .75 overall") == 0.75
    assert parse_score("It is 7 out of 10") is None and parse_score("") is None


async def test_judge_checks_call_the_judge_and_count_its_spend(tmp_path: Path) -> None:
    loaded = loads_profile(
        "providers: {oai: {kind: sim}}\n"
        "models:\n"
        "  m: {provider: oai, model: sim-m, prices: [{input: 1, output: 1}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}\n"
        "  j: {provider: oai, model: sim-j, prices: [{input: 2, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}\n"
        "routes: {r: {steps: [{name: a, targets: [m]}]}}\n"
    )
    f = tmp_path / "d.jsonl"
    f.write_text('{"id": "j1", "input": "Explain refunds", "checks": {"judge": "mentions refunds"}}\n')
    events: list = []

    class Sink:
        def submit(self, ev: object) -> None:
            events.append(ev)

    result = await run_eval(loaded, load_dataset(f).cases, ["r"], judge_model="j", writer=Sink())
    assert result.judge_spent > 0 and result.spent == result.outcomes[0].cost > 0
    routes = [e.route for e in events if e.type == "run_started"]
    assert routes == ["r", "__workbench_judge__"]  # the judge's run is saved like any other
    (check,) = result.outcomes[0].checks
    # the simulator answers in prose without a number: the judge gave no score, so the check fails and says so
    assert not check.passed and check.detail == "no judge score"


async def test_pairwise_judge_asks_both_orders(tmp_path: Path) -> None:
    loaded = loads_profile(
        "providers: {oai: {kind: sim}}\n"
        "models:\n"
        "  m: {provider: oai, model: sim-m, prices: [{input: 1, output: 1}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}\n"
        "  n: {provider: oai, model: sim-n, prices: [{input: 1, output: 1}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30}}\n"
        "  j: {provider: oai, model: sim-j, prices: [{input: 2, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}\n"
        "routes: {r: {steps: [{name: a, targets: [m]}]}, s: {steps: [{name: a, targets: [n]}]}}\n"
    )
    f = tmp_path / "d.jsonl"
    f.write_text('{"id": "c1", "input": "Explain refunds"}\n{"id": "c2", "input": "Explain invoices"}\n')
    prompts: list[str] = []

    class Sink:
        def submit(self, ev: object) -> None:
            if getattr(ev, "type", "") == "run_started" and ev.route == "__workbench_judge__":  # type: ignore[attr-defined]
                prompts.append(ev.prompt)  # type: ignore[attr-defined]

    result = await run_eval(loaded, load_dataset(f).cases, ["r", "s"], judge_model="j", pairwise=True, writer=Sink())
    assert len(prompts) == 4 and result.judge_spent > 0  # 2 cases × 2 orders
    outs = {(o.route, o.case_id): o.output for o in result.outcomes}
    for cid in ("c1", "c2"):  # each pair of answers was shown once as A/B and once swapped
        a, b = outs[("r", cid)], outs[("s", cid)]
        assert sum(p.index(a) < p.index(b) for p in prompts if a in p and b in p) == 1
        assert sum(p.index(b) < p.index(a) for p in prompts if a in p and b in p) == 1
    from workbench.eval.report import summarize

    judge = summarize(result)["pairs"][0]["judge"]
    # the simulator answers prose, never a lone letter: no decisive preference, every case a tie
    assert judge == {"a_preferred": 0, "b_preferred": 0, "ties": 2, "a_share": None, "a_share_ci": [0.0, 1.0]}


async def test_a_stop_during_the_pairwise_judge_cancels_its_call_and_asks_no_more(tmp_path: Path) -> None:
    """Ctrl-C/SIGTERM while the pairwise judge is being asked: its call in flight ends cancelled (saved with its
    estimated cost) and no further comparison starts."""
    from workbench.eval.runner import JUDGE_ROUTE, EvalStop

    loaded = loads_profile(
        "providers: {oai: {kind: sim}}\n"
        "models:\n"
        "  m: {provider: oai, model: sim-m, prices: [{input: 1, output: 1}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}\n"
        "  n: {provider: oai, model: sim-n, prices: [{input: 1, output: 1}], sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 30}}\n"
        "  j: {provider: oai, model: sim-j, prices: [{input: 2, output: 2}], sim: {ttft_ms: 0, tokens_per_s: 20, answer_tokens: 400}}\n"
        "routes: {r: {steps: [{name: a, targets: [m]}]}, s: {steps: [{name: a, targets: [n]}]}}\n"
    )
    f = tmp_path / "d.jsonl"
    f.write_text('{"id": "c1", "input": "Explain refunds"}\n{"id": "c2", "input": "Explain invoices"}\n')
    stop = EvalStop()
    judged: list[tuple[str, str]] = []

    class Sink:
        def submit(self, ev: object) -> None:
            kind = getattr(ev, "type", "")
            if kind == "token" and not judged and getattr(ev, "run_id", "") in started:
                stop.stop("terminated (SIGTERM)")  # the judge is answering: the signal arrives now
            if kind == "run_started" and ev.route == JUDGE_ROUTE:  # type: ignore[attr-defined]
                started.add(ev.run_id)  # type: ignore[attr-defined]
            if kind == "run_finished" and getattr(ev, "run_id", "") in started:
                judged.append((ev.status, str(ev.cost_usd)))  # type: ignore[attr-defined]

    started: set[str] = set()
    result = await run_eval(
        loaded,
        load_dataset(f).cases,
        ["r", "s"],
        judge_model="j",
        pairwise=True,
        writer=Sink(),
        concurrency=1,
        stop=stop,
    )
    assert result.stopped == "terminated (SIGTERM)"
    assert len(started) == 1 and [s for s, _ in judged] == ["cancelled"] and float(judged[0][1]) > 0


def test_a_missing_or_null_id_is_numbered_and_a_null_metadata_value_is_empty(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(
        '{"id": null, "input": "a", "metadata": {"tier": null, "n": 3, "vip": true}}\n{"input": "b"}\n'
        '{"id": 7, "input": "c"}\n'
    )
    cases = load_dataset(f).cases
    assert [c.id for c in cases] == ["case-1", "case-2", "7"]
    assert cases[0].metadata == {"tier": "", "n": "3", "vip": "true"}
