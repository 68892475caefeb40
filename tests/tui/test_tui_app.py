"""Pilot tests of the run screen, driving the real engine and the embedded simulator on the demo profile."""

from __future__ import annotations

import socket
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.widgets import Input, Select
from textual.worker import WorkerCancelled, WorkerState
from tui_helpers import answer_text, attempt_statuses, column, demo_profile, run_to_end, send

from workbench.engine.run import Engine
from workbench.tui import runner
from workbench.tui.app import WorkbenchApp, make_app, route_options
from workbench.tui.widgets import AnswerView, HopTable, NotesLog, StatusLine

SIZE = (120, 36)
SLOW = {"ttft_ms": 2.0, "tokens_per_s": 25.0, "answer_tokens": 30}  # ~1.2 s of streaming: time to interrupt


def status_text(app: WorkbenchApp) -> str:
    return app.query_one(StatusLine).render().plain  # type: ignore[union-attr]


def notes_text(app: WorkbenchApp) -> str:
    return app.query_one(NotesLog).text


def notices(messages: list[Message]) -> list[tuple[str, str]]:
    return [(m.notification.severity, m.notification.message) for m in messages if isinstance(m, Notify)]


async def wait_for_status(pilot: Any, status: str, timeout: float = 5.0) -> None:
    """Let the app run until some hop row shows `status` (e.g. "streaming")."""
    for _ in range(int(timeout / 0.02)):
        if status in pilot.app.query_one(HopTable).statuses():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"no hop reached {status!r}: {pilot.app.query_one(HopTable).statuses()}")


def test_route_selector_lists_the_default_route_first(demo) -> None:
    assert route_options(demo) == ["default", "fallback", "frontier", "budget"]


async def test_idle_screen_names_the_profile_and_selects_the_default_route(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "demo" in app.title
        assert app.query_one("#route", Select).value == "default"
        assert app.focused is app.query_one("#prompt", Input)
        assert status_text(app).startswith("ready · profile demo · 4 routes")
        assert app.query_one(HopTable).row_count == 0


async def test_a_run_streams_the_answer_and_fills_the_hop_table(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot, "Why is the sky blue?", keys=True)
        finished = app.run_state.finished
        assert finished is not None and finished.status == "ok"
        # The answer on screen is exactly the run's output: no token lost, none doubled.
        assert answer_text(app).strip() and answer_text(app) == finished.output
        statuses = attempt_statuses(app)
        assert statuses[-1] == "ok" and set(statuses) <= {"ok", "error"}
        assert app.query_one(HopTable).statuses("step") == ["ok"]
        costs = [Decimal(cell) for cell in column(app, "cost")]
        assert costs[-1] > 0 and sum(costs) == finished.cost_usd
        assert int(column(app, "tokens_out")[-1]) > 0
        assert column(app, "label", "decision")[0] == "route → default"
        status = status_text(app)
        assert status.startswith("ok · route default")
        assert f"cost ${finished.cost_usd}" in status  # exact, as the engine reported it


async def test_the_fallback_route_shows_an_error_attempt_then_an_ok_one(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot, "Why is the sky blue?", route="fallback")
        assert attempt_statuses(app) == ["error", "ok"]
        assert [label.strip() for label in column(app, "label")] == ["outage", "steady"]
        assert column(app, "attempt") == ["1", "2"]
        costs = [Decimal(cell) for cell in column(app, "cost")]
        assert costs[0] == 0 and costs[1] > 0  # a 503 before any token costs nothing
        assert "fallback → steady" in column(app, "label", "decision")
        notes = notes_text(app)
        assert "outage (attempt 1) error" in notes and "503" in notes
        assert "fallback → steady: outage failed" in notes
        assert answer_text(app) == app.run_state.finished.output  # type: ignore[union-attr]
        assert app.query_one(AnswerView).border_title == "answer · route fallback"


async def test_tokens_are_applied_in_coalesced_frames(monkeypatch) -> None:
    events = 0
    apply = runner.RunState.apply

    def counting_apply(self: runner.RunState, event: Any) -> None:
        nonlocal events
        events += 1
        apply(self, event)

    monkeypatch.setattr(runner.RunState, "apply", counting_apply)
    app = make_app(demo_profile(ttft_ms=2.0, tokens_per_s=300.0, answer_tokens=90))  # ~0.3 s of streaming
    async with app.run_test(size=SIZE) as pilot:
        frames = 0
        show = app.query_one(AnswerView).show

        async def counting_show(**kw: Any) -> None:
            nonlocal frames
            frames += 1
            await show(**kw)

        app.query_one(AnswerView).show = counting_show  # type: ignore[method-assign]
        await run_to_end(pilot, "Explain fallbacks", route="frontier")
        assert app.run_state.finished.status == "ok"  # type: ignore[union-attr]
        assert events > 60  # one event per streamed chunk...
        assert 1 <= frames <= 12  # ...but the answer is redrawn ~16 times a second at most


async def test_escape_cancels_the_run_and_the_hop_in_flight_reports_cancelled() -> None:
    app = make_app(demo_profile(**SLOW))
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await send(pilot, "Tell me a long story", route="frontier")
        await wait_for_status(pilot, "streaming")
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query_one(HopTable).statuses("attempt") == ["cancelled"]
        finished = app.run_state.finished
        assert finished is not None and finished.status == "cancelled"  # the engine wound down and reported
        assert status_text(app).startswith("cancelled · route frontier")
        assert "cancelled" in notes_text(app)
        assert ("warning", "Run cancelled.") in notices(messages)
        assert answer_text(app).strip()  # the partial answer stays readable


async def test_cancelling_the_worker_stops_the_event_iteration_and_the_engine_stays_usable() -> None:
    app = make_app(demo_profile(**SLOW))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Tell me a long story", route="frontier")
        await wait_for_status(pilot, "streaming")
        worker = app._run_worker
        assert worker is not None
        worker.cancel()  # the hard path: the task is cancelled, the engine's generator is closed
        with pytest.raises(WorkerCancelled):
            await worker.wait()
        await pilot.pause()
        assert worker.state == WorkerState.CANCELLED
        assert app.query_one(HopTable).statuses("attempt") == ["cancelled"]
        assert status_text(app).startswith("cancelled")
        shown = answer_text(app)
        await pilot.pause(0.3)  # no event of the stopped run arrives any more
        assert answer_text(app) == shown and app.query_one(HopTable).statuses("attempt") == ["cancelled"]
        # The same engine serves the next run.
        await run_to_end(pilot, "Short one", route="frontier")
        assert attempt_statuses(app) == ["ok"]


async def test_a_send_while_a_run_is_in_flight_is_refused_with_a_notice() -> None:
    app = make_app(demo_profile(**SLOW))
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await send(pilot, "first", route="frontier")
        await wait_for_status(pilot, "streaming")
        await pilot.press("enter")
        await pilot.pause()
        assert any(sev == "warning" and "in progress" in msg for sev, msg in notices(messages))
        assert len([w for w in app.workers if w.group == "run"]) == 1
        assert app.run_state.prompt == "first"  # type: ignore[union-attr]
        await pilot.press("escape")
        await app.workers.wait_for_complete()


async def test_ctrl_l_clears_the_screen_and_ctrl_r_sends_the_kept_prompt_again(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot, "Why is the sky blue?", route="fallback")
        first = answer_text(app)
        rows = app.query_one(HopTable).row_count
        assert rows > 0
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.query_one(HopTable).row_count == 0
        assert answer_text(app) == "" and notes_text(app) == ""
        assert status_text(app).startswith("ready")
        assert app.query_one("#prompt", Input).value == "Why is the sky blue?"  # kept, to send it again
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query_one(HopTable).row_count == rows
        assert answer_text(app) == first  # same seed, same prompt: same answer


async def test_q_is_typed_into_the_prompt_but_quits_from_the_table(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        assert app.query_one("#prompt", Input).value == "q"
        assert app.is_running
        app.query_one(HopTable).focus()
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_one_engine_is_opened_on_mount_and_closed_on_unmount(demo) -> None:
    engines: list[Engine] = []

    def factory(loaded: Any) -> Engine:
        engines.append(Engine(loaded))
        return engines[-1]

    app = make_app(demo, engine_factory=factory)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot, "one")
        await run_to_end(pilot, "two", route="fallback")
        assert len(engines) == 1 and engines[0].sim_url is not None  # the simulator is up
    assert engines[0].sim_url is None  # closed with the app: the simulator is stopped


async def test_an_engine_that_cannot_start_gives_toasts_not_a_traceback(demo) -> None:
    with socket.socket() as busy:  # the simulator's port is taken: the engine cannot start
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        profile = demo.profile.model_copy(update={"sim": demo.profile.sim.model_copy(update={"port": port})})
        app = make_app(replace(demo, profile=profile))
        messages: list[Message] = []
        async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
            assert not await app.wait_for_engine()
            await run_to_end(pilot, "hello")
            errors = [msg for sev, msg in notices(messages) if sev == "error"]
            assert any("simulator could not listen" in msg for msg in errors), errors
            assert any("engine is not running" in msg for msg in errors)
            assert status_text(app).startswith("error · route default")
            assert app.is_running
        assert app.return_code in (None, 0)


@pytest.mark.parametrize("route", ["frontier", "budget"])
async def test_every_demo_route_completes_ok(demo, route: str) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot, "Name three colours", route=route)
        assert app.run_state.finished.status == "ok"  # type: ignore[union-attr]
        assert attempt_statuses(app)[-1] == "ok" and answer_text(app).strip()


def with_routes(loaded: Any, **routes: dict[str, Any]) -> Any:
    """The demo profile plus extra routes (built in memory from plain dicts, validated by the profile model)."""
    from workbench.profiles.models import Route

    extra = {name: Route.model_validate(spec) for name, spec in routes.items()}
    return replace(loaded, profile=loaded.profile.model_copy(update={"routes": {**loaded.profile.routes, **extra}}))


async def test_a_route_of_several_steps_shows_each_steps_answer_under_its_name(demo) -> None:
    loaded = with_routes(
        demo,
        chain={
            "steps": [
                {"name": "draft", "targets": ["steady"]},
                {"name": "polish", "targets": ["sage"]},
            ]
        },
    )
    app = make_app(loaded)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot, "Why is the sky blue?", route="chain")
        assert app.query_one(HopTable).statuses("step") == ["ok", "ok"]
        text = answer_text(app)
        assert text.startswith("**`draft`**\n\n") and "\n\n**`polish`**\n\n" in text
        assert text.endswith(app.run_state.finished.output)  # type: ignore[union-attr]  # the last step's answer


async def test_a_run_whose_every_target_fails_ends_in_error_with_a_toast(demo) -> None:
    app = make_app(with_routes(demo, down={"steps": [{"name": "answer", "targets": ["outage"]}]}))
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await run_to_end(pilot, "anyone there?", route="down")
        assert attempt_statuses(app) == ["error", "error"]  # a step's last target is retried once by default
        assert app.query_one(HopTable).statuses("step") == ["error"]
        assert status_text(app).startswith("error · route down")
        assert any(sev == "error" and "503" in msg for sev, msg in notices(messages))
        assert app.is_running  # a failed run is news, not a crash
