"""Search stems words (porter) and has prefix indexes (migration 5); run ids resolve by a unique prefix or a
unique suffix, and an ambiguous one lists its candidates. Real SQLite file, the real CLI."""

from __future__ import annotations

import sqlite3
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


@pytest.fixture
def db(db_path: Path) -> Path:
    with open_store(db_path) as store:
        save_events(store, run_events(run_id="01a2b3c4d5e6f7aa", prompt="Why does connection pooling matter?"))
        save_events(store, run_events(run_id="01a2b3c4d5e6f7bb", prompt="Explain DNS caching"))
        save_events(store, run_events(run_id="01a2b3c4d5e6f8cc", prompt="Refund policy for invoices"))
    return db_path


def test_search_finds_stemmed_words_and_prefixes(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "sessions", "search", "connection pool", "--db", str(db))
    assert code == 0 and "01a2b3c4d5e6f7aa" in out and "f7bb" not in out
    code, out, _ = _cli(capsys, "sessions", "search", "invoic*", "--db", str(db))
    assert code == 0 and "01a2b3c4d5e6f8cc" in out
    with sqlite3.connect(db) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'runs_fts'").fetchone()[0]
        assert "porter" in sql and "prefix='2 3 4'" in sql
        assert conn.execute("SELECT name FROM migrations WHERE id = 5").fetchone()[0] == "fts_porter_prefix"


def test_a_unique_suffix_names_a_run_and_an_ambiguous_prefix_lists_candidates(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "sessions", "show", "f7bb", "--db", str(db))
    assert code == 0 and "Explain DNS caching" in out
    code, out, err = _cli(capsys, "sessions", "show", "01a2", "--db", str(db))
    assert code == 2 and "matches several runs" in err
    for rid, prompt in (("01a2b3c4d5e6f7aa", "Why does connection"), ("01a2b3c4d5e6f8cc", "Refund policy")):
        assert rid in err and prompt in err  # each candidate with what it was about
    assert "suffix" in err
