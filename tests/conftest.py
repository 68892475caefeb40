"""Shared test fixtures: one embedded LLM simulator for the whole test session.

Any model name works against `sim` (default behaviour, tiny latencies). Tests dial behaviour per request with the
`x-sim-behaviour` header (a JSON object of SimBehaviour fields) instead of starting servers of their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workbench.sim.behaviour import SimBehaviour


@pytest.fixture(scope="session")
def sim() -> Iterator[SimServer]:  # noqa: F821 - imported lazily so collection never depends on the server
    from workbench.sim.server import SimServer

    server = SimServer(default=SimBehaviour(ttft_ms=0, tokens_per_s=1e6, answer_tokens=40))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sim_url(sim) -> str:  # type: ignore[no-untyped-def]
    """The simulator's base URL, e.g. http://127.0.0.1:PORT (OpenAI SDK: f"{sim_url}/v1")."""
    return sim.base_url


@pytest.fixture(autouse=True, scope="session")
def _private_locations(tmp_path_factory: pytest.TempPathFactory):
    """No test (nor a subprocess it starts) writes to the developer's sessions/workbench.db, config or data dirs.

    Per test process: under pytest-xdist each worker has a base temp dir of its own, so workers share no file."""
    import os

    home = tmp_path_factory.mktemp("home")
    private = {
        "WORKBENCH_DB": str(tmp_path_factory.mktemp("wbdb") / "workbench.db"),
        "XDG_CONFIG_HOME": str(home / "config"),  # the TUI's settings (tui.json)
        "XDG_DATA_HOME": str(home / "data"),
    }
    previous = {name: os.environ.get(name) for name in [*private, "WORKBENCH_CONFIG_DIR"]}
    os.environ.update(private)
    os.environ.pop("WORKBENCH_CONFIG_DIR", None)
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _fresh_target_health() -> Iterator[None]:
    """Circuit breakers are shared by every run in a process: each test starts with every target healthy."""
    from workbench.engine import health

    health.reset()
    yield
    health.reset()
