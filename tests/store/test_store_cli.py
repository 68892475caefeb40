"""`workbench sessions ...` in-process through the real CLI entry (exit codes, panels, no tracebacks)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from store_events import run_events

from workbench.cli import cli
from workbench.cli.output import run_cli
from workbench.store import open_store, save_events


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(cli, list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_list_newest_first_with_limit_and_session(populated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_store(populated) as store:
        newest = [r["id"] for r in store.list_runs(limit=30)]
    code, out, _ = _cli(capsys, "sessions", "list", "--db", str(populated), "--limit", "5")
    assert code == 0
    shown = [line.split()[0] for line in out.splitlines() if line.strip().startswith(tuple(i[:8] for i in newest))]
    assert shown == newest[:5]
    for head in ("id", "session", "route", "status", "latency", "tokens", "cost", "started", "prompt"):
        assert head in out
    code, out, _ = _cli(capsys, "sessions", "list", "--db", str(populated), "--session", "alpha", "--json", "-n", "100")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 12 and {r["session"] for r in rows} == {"alpha"}
    assert [r["started_ts"] for r in rows] == sorted((r["started_ts"] for r in rows), reverse=True)


def test_list_without_a_database_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(capsys, "sessions", "list", "--db", str(tmp_path / "none.db"))
    assert code == 0 and "no runs saved yet" in err
    assert not (tmp_path / "none.db").exists()


def test_db_from_the_environment(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_DB", str(populated))
    code, out, _ = _cli(capsys, "sessions", "list", "--json", "-n", "100")
    assert code == 0 and len(out.splitlines()) == 24


def test_show_by_prefix_with_hop_tree_and_output(populated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_store(populated) as store:
        save_events(
            store, run_events(run_id="zz-fallback-run", steps=(("answer", (("swift", "error"), ("deep", "ok"))),))
        )
        run = store.get_run("zz-fallback-run").run
        detail = store.get_run(run["id"])
    prefix = "zz-fall"
    code, out, _ = _cli(capsys, "sessions", "show", prefix, "--db", str(populated))
    assert code == 0, out
    assert run["id"] in out and detail.run["output"].split()[0] in out
    assert "attempt swift #1" in out and "attempt deep #2" in out and "fallback" in out
    assert f"${detail.run['cost_exact']}" in out
    code, out, _ = _cli(capsys, "sessions", "show", run["id"], "--db", str(populated), "--json")
    data = json.loads(out)
    assert data["run"] == detail.run and data["hops"] == detail.hops


@pytest.mark.parametrize("ref,words", [("no-such-run", "no run with id"), ("r", "matches several runs")])
def test_unknown_or_ambiguous_id_exits_2(
    populated: Path, capsys: pytest.CaptureFixture[str], ref: str, words: str
) -> None:
    for command in ("show", "rm"):
        code, out, err = _cli(capsys, "sessions", command, ref, "--db", str(populated))
        assert code == 2 and words in err and "Traceback" not in err + out


def test_search_shows_snippets_and_rejects_bad_syntax_clearly(
    populated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "sessions", "search", "refund", "--db", str(populated))
    assert code == 0 and "refund" in out
    with open_store(populated) as store:
        hits = store.search("refund")
        assert hits and all("\x02refund\x03" in (h["prompt_snippet"] + h["output_snippet"]).lower() for h in hits)
        assert store.search("ünïcode") and not store.search("zebra")
    code, _, err = _cli(capsys, "sessions", "search", "gpt-4o AND (", "--db", str(populated))
    assert code == 2 and "not a valid full-text query" in err and "--literal" in err and "Traceback" not in err
    code, _, err = _cli(capsys, "sessions", "search", 'unterminated "quote', "--db", str(populated))
    assert code == 2 and "not a valid full-text query" in err
    code, out, err = _cli(capsys, "sessions", "search", "refund-policy (", "--literal", "--db", str(populated))
    assert code == 0  # searched as words: no syntax error
    code, _, err = _cli(capsys, "sessions", "search", "zebra", "--db", str(populated))
    assert code == 0 and "no runs match" in err


def test_rm_deletes_a_run_with_its_rows_and_nothing_else(populated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_store(populated) as store:
        victim = store.list_runs(limit=1)[0]["id"]
        totals = {t: store.db[t].count for t in ("runs", "hops", "messages", "decisions", "profiles", "sessions")}
        own = {t: store.db[t].count_where("run_id = ?", [victim]) for t in ("hops", "messages", "decisions")}
    code, out, _ = _cli(capsys, "sessions", "rm", victim, "--db", str(populated))
    assert code == 0 and f"removed run {victim}" in out
    with open_store(populated) as store:
        after = {t: store.db[t].count for t in totals}
        assert store.db["runs"].count_where("id = ?", [victim]) == 0
        assert store.conn.execute("select count(*) from runs_fts").fetchone()[0] == after["runs"]
        store.conn.execute("INSERT INTO runs_fts(runs_fts) VALUES('integrity-check')")
    expected = dict(totals, runs=totals["runs"] - 1, **{t: totals[t] - own[t] for t in own})
    assert after == expected
    code, _, err = _cli(capsys, "sessions", "show", victim, "--db", str(populated))
    assert code == 2 and "no run with id" in err


def test_export_csv_of_runs_and_hops(populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "sessions", "export", "--format", "csv", "--db", str(populated))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 24 and {"id", "cost_exact", "prompt"} <= set(rows[0])
    target = tmp_path / "hops.csv"
    code, _, err = _cli(
        capsys, "sessions", "export", "--format", "csv", "--table", "hops", "-o", str(target), "--db", str(populated)
    )
    with open_store(populated) as store:
        assert len(list(csv.DictReader(target.open()))) == store.db["hops"].count
    assert code == 0 and str(target) in err and (target.stat().st_mode & 0o777) == 0o600


def test_import_rejects_files_that_are_not_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "x.db"
    cases = {
        "missing.json": None,
        "junk.json": "{not json at all",
        "other.json": json.dumps({"hello": "world"}),
        "future.jsonl": json.dumps({"format": "workbench-sessions", "version": 99}) + "\n",
        "badcol.jsonl": json.dumps({"format": "workbench-sessions", "version": 1})
        + "\n"
        + json.dumps({"table": "runs", "row": {"id": "x", "colour": "blue"}})
        + "\n",
        "badline.jsonl": json.dumps({"format": "workbench-sessions", "version": 1}) + "\n{oops\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        code, out, err = _cli(capsys, "sessions", "import", str(path), "--db", str(db))
        assert code == 2 and str(path) in err.replace("\n", "") or name in err, (name, err)
        assert "Traceback" not in err + out
    with open_store(db) as store:
        assert store.db["runs"].count == 0


def test_show_clips_a_megabyte_prompt_unless_full(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli.sessions_cmd import SHOW_CHARS

    prompt = "".join(f"w{i} " for i in range(200_000))[:1_000_000]  # 1 MB, every word distinct
    with open_store(db_path) as store:
        save_events(store, run_events(run_id="big-prompt-run", prompt=prompt))
    code, out, _ = _cli(capsys, "sessions", "show", "big-prompt-run", "--db", str(db_path))
    assert code == 0
    assert len(out) < 20_000
    rest = len(prompt) - SHOW_CHARS
    assert f"… {rest:,} more characters ({len(prompt):,} in all): `--full` prints them" in out
    last_shown = prompt[:SHOW_CHARS].split()[-2]
    assert last_shown in out and prompt.split()[-1] not in out.split()
    code, out, _ = _cli(capsys, "sessions", "show", "big-prompt-run", "--db", str(db_path), "--full")
    assert code == 0 and "more characters" not in out
    assert len(out) > len(prompt) and prompt.split()[-1] in out
