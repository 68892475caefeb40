"""Fixtures for the TUI tests: the demo profile, sped up (see tui_helpers)."""

from __future__ import annotations

import pytest
from tui_helpers import demo_profile

from workbench.profiles.load import LoadedProfile


@pytest.fixture
def demo() -> LoadedProfile:
    return demo_profile()
