"""Fixtures for the accounting-truth tests: the test profile and one simulator serving its models."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # accounting_helpers, shared by the test modules here

from accounting_helpers import load, sim_for  # noqa: E402

from workbench.profiles.load import LoadedProfile  # noqa: E402
from workbench.sim.server import SimServer  # noqa: E402


@pytest.fixture(scope="module")
def loaded() -> LoadedProfile:
    return load()


@pytest.fixture(scope="module")
def acc_sim(loaded: LoadedProfile) -> Iterator[SimServer]:
    """The simulator lives in its own thread, so one per module serves every test's event loop."""
    server = sim_for(loaded)
    server.start()
    try:
        yield server
    finally:
        server.stop()
