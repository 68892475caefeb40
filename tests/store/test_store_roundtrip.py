"""Export, then import into an empty database: every row of every table comes back exactly; twice adds nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from invariants import check_invariants
from store_events import run_events

from workbench.cli import cli
from workbench.cli.output import run_cli
from workbench.store import open_store, save_events
from workbench.store.records import PRIMARY_KEYS, TABLE_COLUMNS

DATA_TABLES = tuple(TABLE_COLUMNS)


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every data table, in primary-key order, with SQLite's own types."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in DATA_TABLES:
            order = ", ".join(PRIMARY_KEYS[table])
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            types = conn.execute(
                f"SELECT {', '.join(f'typeof({c})' for c in TABLE_COLUMNS[table])} FROM {table} ORDER BY {order}"
            ).fetchall()
            out[table + ":types"] = types
        out["fts"] = conn.execute("SELECT prompt, output FROM runs_fts ORDER BY prompt, output").fetchall()
        return out
    finally:
        conn.close()


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_export_import_round_trips_exactly(
    populated: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store(populated) as store:  # edge cases: a cancelled run with open hops, odd text, a NULL ttft
        save_events(
            store,
            run_events(
                run_id="edge-cancel",
                cancel_last_hop=True,
                prompt='quotes " \\ \n new\tline, emoji 🎉, NUL-free, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
            ),
        )
    export_file = tmp_path / f"all.{fmt}"
    assert run_cli(cli, ["sessions", "export", "--format", fmt, "-o", str(export_file), "--db", str(populated)]) == 0
    fresh = tmp_path / "fresh.db"
    assert run_cli(cli, ["sessions", "import", str(export_file), "--db", str(fresh)]) == 0
    assert "imported 25 run(s)" in capsys.readouterr().out
    original, copy = dump(populated), dump(fresh)
    for table in original:
        assert copy[table] == original[table], table
    assert sum(len(original[t]) for t in DATA_TABLES) > 150
    check_invariants(fresh)

    # Importing the same file again adds nothing, and says so.
    assert run_cli(cli, ["sessions", "import", str(export_file), "--db", str(fresh)]) == 0
    again = capsys.readouterr().out
    assert "imported 0 run(s)" in again and "25 already present" in again
    assert dump(fresh) == original
    with open_store(fresh) as store:
        assert [r["id"] for r in store.search("emoji")] == ["edge-cancel"]


def test_import_into_a_database_with_other_runs_merges(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    with open_store(other) as store:
        save_events(store, run_events(run_id="only-in-other"))
    export_file = tmp_path / "other.jsonl"
    assert run_cli(cli, ["sessions", "export", "--format", "jsonl", "-o", str(export_file), "--db", str(other)]) == 0
    assert run_cli(cli, ["sessions", "import", str(export_file), "--db", str(populated)]) == 0
    assert check_invariants(populated) == 25
    lines = export_file.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "workbench-sessions" and header["schema"] >= 4
    assert {json.loads(line)["table"] for line in lines[1:-1]} == {"sessions", "runs", "hops", "messages", "decisions"}
    assert json.loads(lines[-1])["end"]["runs"] == 1  # the end line: a file without it was cut short
