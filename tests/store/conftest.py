"""Fixtures for the store tests: a fresh database file per test, and one holding a varied set of runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # store_events, shared by the tests and the crash child

from store_events import PROFILE_HASH, PROFILE_TEXT, varied_runs  # noqa: E402

from workbench.store import Store, open_store, save_events  # noqa: E402


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions" / "workbench.db"


@pytest.fixture
def populated(db_path: Path) -> Path:
    """A database with 24 runs over 3 routes, 3 models, failures and fallbacks, several days, 2 sessions."""
    runs = varied_runs(24)
    with open_store(db_path) as store:
        save_events(
            store,
            [e for r in runs[:12] for e in r],
            session="alpha",
            profiles=[(PROFILE_HASH, PROFILE_TEXT, "profiles/store-test.yaml")],
        )
        save_events(store, [e for r in runs[12:] for e in r], session="beta")
    return db_path


@pytest.fixture
def store(db_path: Path):  # type: ignore[no-untyped-def]
    s: Store = open_store(db_path)
    yield s
    s.close()
