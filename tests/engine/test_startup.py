"""Engine start-up: the first events do not wait for the tokenizer tables or the simulator, and nothing is lost.

`Engine.start()` opens the `sim` provider plugin, which reserves the simulator's port at once, and leaves the slow
work to a background task (see workbench/engine/startup.py and workbench/sim/plugin.py); `run()` waits for it
before the first hop. Real loopback HTTP throughout.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from workbench.engine import Engine
from workbench.profiles.load import loads_profile

PROFILE = """
name: startup-tests
providers:
  oai: {kind: sim, wire: openai}
models:
  mini:
    provider: oai
    model: sim-mini
    tokenizer: o200k_base
    prices: [{input: 0.15, output: 0.60}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 12}
routes:
  plain: {steps: [{name: answer, targets: [mini]}]}
"""


@pytest.fixture
def loaded():
    return loads_profile(PROFILE)


async def test_run_started_comes_before_the_background_start_up_has_run(loaded) -> None:
    async with Engine(loaded) as engine:
        assert engine.sim_url is not None and engine.sim_url.startswith("http://127.0.0.1:")  # known at once
        events = engine.run("hello")
        first = await events.__anext__()
        assert first.type == "run_started"
        # No await has given the event loop control since start(): the background task has not even begun.
        assert not engine._startup.done  # type: ignore[union-attr]
        rest = [event async for event in events]
        assert engine._startup.done  # type: ignore[union-attr]
        finished = rest[-1]
        assert finished.type == "run_finished" and finished.status == "ok", finished
        assert [e.type for e in rest if e.type == "hop_finished"] == ["hop_finished", "hop_finished"]


async def test_a_request_made_before_the_simulator_serves_waits_for_it(loaded) -> None:
    async with Engine(loaded) as engine:
        url = f"{engine.sim_url}/v1/models"
        # The port listens from start(); the server behind it starts in the background meanwhile.
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            response = await client.get(url)
        assert response.status_code == 200
        assert [m["id"] for m in response.json()["data"]] == ["sim-mini"]
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        with pytest.raises(httpx.ConnectError):  # closed with the engine: the port no longer listens
            await client.get(url)


async def test_a_background_start_that_fails_ends_the_run_with_an_error_not_an_exception(loaded) -> None:
    async with Engine(loaded) as engine:
        engine.service("sim")._sock.close()  # the reserved port is lost before the server uses it
        events = [event async for event in engine.run("hello")]
    assert [e.type for e in events] == ["run_started", "decision", "run_finished"]
    finished = events[-1]
    assert finished.status == "error"  # type: ignore[attr-defined]
    assert "embedded simulator could not start" in (finished.error or "")  # type: ignore[attr-defined]


async def test_a_port_that_is_taken_fails_at_start_before_any_event(loaded) -> None:
    import socket

    from workbench.errors import SimError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        profile = loaded.profile.model_copy(update={"sim": loaded.profile.sim.model_copy(update={"port": port})})
        from dataclasses import replace

        engine = Engine(replace(loaded, profile=profile))
        with pytest.raises(SimError, match=f"could not listen on 127.0.0.1:{port}"):
            await engine.start()
        await asyncio.wait_for(engine.close(), 5)


async def test_an_engine_closed_before_any_run_starts_no_simulator_and_frees_its_port(loaded) -> None:
    import threading

    def sim_threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "workbench-sim")

    before = sim_threads()
    engine = Engine(loaded)
    await engine.start()
    url = engine.sim_url
    await asyncio.wait_for(engine.close(), 5)  # e.g. `workbench run --route nope`: nothing to wait for
    assert sim_threads() == before
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/v1/models")
