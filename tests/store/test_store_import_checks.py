"""`sessions import` of damaged exports: each run whole or not at all, every rejection named, and a later
complete import filling in what an earlier cut-short one left out. Real SQLite files, the real CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from invariants import check_invariants
from test_store_roundtrip import dump

from workbench.cli import cli
from workbench.cli.output import run_cli


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = run_cli(cli, list(args))
    except SystemExit as exc:  # the command's own non-zero exit (as `workbench` itself would exit)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def _export(populated: Path, path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, "sessions", "export", "--format", fmt, "-o", str(path), "--db", str(populated))[0] == 0


def _runs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


@pytest.mark.parametrize("cut", [0.35, 0.6, 0.97])
def test_a_cut_short_jsonl_imports_only_whole_runs_and_the_full_file_completes_it(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], cut: float
) -> None:
    full = tmp_path / "all.jsonl"
    _export(populated, full, "jsonl", capsys)
    data = full.read_bytes()
    cut_file = tmp_path / "cut.jsonl"
    cut_file.write_bytes(data[: int(len(data) * cut)])  # mid-line, as a copy interrupted would leave it
    fresh = tmp_path / "fresh.db"
    code, out, err = _cli(capsys, "sessions", "import", str(cut_file), "--db", str(fresh))
    assert code == 1 and "cut short" in err and "rejected 1 item(s)" in err
    imported = _runs(fresh)
    assert 0 < imported < 24 and f"imported {imported} run(s)" in out
    assert check_invariants(fresh) == imported  # every run that came in is whole

    code, out, err = _cli(capsys, "sessions", "import", str(full), "--db", str(fresh))
    assert code == 0 and f"imported {24 - imported} run(s)" in out and f"{imported} already present" in out
    assert dump(fresh) == dump(populated)


def test_an_incomplete_run_already_in_the_store_is_filled_in_by_a_complete_import(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = tmp_path / "all.jsonl"
    _export(populated, full, "jsonl", capsys)
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(populated.read_bytes())
    with sqlite3.connect(damaged) as conn:  # what the old importer left from a cut-short file
        victim = conn.execute("SELECT run_id FROM hops GROUP BY run_id HAVING count(*) > 2 LIMIT 1").fetchone()[0]
        conn.execute(
            "DELETE FROM hops WHERE run_id = ? AND hop_id IN (SELECT max(hop_id) FROM hops WHERE run_id = ?)",
            (victim, victim),
        )
        conn.execute("DELETE FROM decisions WHERE run_id = ?", (victim,))
    code, out, _ = _cli(capsys, "sessions", "import", str(full), "--db", str(damaged))
    assert code == 0 and "1 incomplete run(s) filled in" in out and "23 already present" in out
    assert dump(damaged) == dump(populated)


def test_rows_that_break_the_schema_or_the_invariants_are_rejected_by_run_with_reasons(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export_file = tmp_path / "all.json"
    _export(populated, export_file, "json", capsys)
    doc = json.loads(export_file.read_text())
    runs, hops = doc["tables"]["runs"], doc["tables"]["hops"]
    runs[0]["cost_exact"] = "0.5"  # not the sum of its hops
    runs[1]["cost_usd"] = "expensive"
    runs[2]["started_ts"] = 1e300
    victim_hop = next(h for h in hops if h["run_id"] == runs[3]["id"])
    victim_hop["latency_ms"] = "slow"
    hops.append({**victim_hop, "run_id": "ghost-run"})  # an orphan
    export_file.write_text(json.dumps(doc))
    fresh = tmp_path / "fresh.db"
    code, out, err = _cli(capsys, "sessions", "import", str(export_file), "--db", str(fresh))
    assert code == 1 and "imported 20 run(s)" in out
    flat = " ".join(err.split())
    assert f"run {runs[0]['id']}: cost_exact 0.5 is not the sum of its hops' costs" in flat
    assert f'run {runs[1]["id"]}: cost_usd is "expensive", not an amount in USD' in flat
    assert f"run {runs[2]['id']}: started_ts is 1e+300, not a timestamp" in flat
    assert f'run {runs[3]["id"]}: latency_ms is "slow", not a duration in milliseconds (hop' in flat
    assert "1 hops row(s) belong to no run in the file (orphans)" in flat
    assert check_invariants(fresh) == 20
    prices = tmp_path / "prices.yaml"
    models = "".join(
        f"  {alias}: {{provider: sim, model: {alias}-x, prices: [{{input: 1, output: 2}}]}}\n"
        for alias in ("swift", "deep", "local")
    )
    prices.write_text(
        f"name: p\nproviders:\n  sim: {{kind: sim}}\nmodels:\n{models}"
        "routes:\n  any: {steps: [{name: a, targets: [swift]}]}\n"
    )
    for args in (["list", "-n", "100"], ["show", runs[4]["id"]], ["reprice", "--profile", str(prices)]):
        code, out, err = _cli(capsys, "sessions", *args, "--db", str(fresh))
        assert code == 0, (args, err)
    # fixed by hand, the same file then brings the rejected runs in
    runs[0]["cost_exact"] = dump(populated)["runs"][0][18]
    runs[1]["cost_usd"] = dump(populated)["runs"][1][17]
    runs[2]["started_ts"] = dump(populated)["runs"][2][11]
    victim_hop["latency_ms"] = 12.5
    hops.pop()
    export_file.write_text(json.dumps(doc))
    code, out, err = _cli(capsys, "sessions", "import", str(export_file), "--db", str(fresh))
    assert code == 0 and "imported 4 run(s)" in out and check_invariants(fresh) == 24
