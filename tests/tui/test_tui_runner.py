"""The folding rules of `RunState`: engine events in, coalesced frames out (no screen needed)."""

from __future__ import annotations

from decimal import Decimal

from workbench.engine.events import (
    Decision,
    FirstToken,
    HopFinished,
    HopStarted,
    RunFinished,
    RunStarted,
    Token,
)
from workbench.tui.runner import Note, RunState

R = "run1"


def start(state: RunState) -> None:
    state.apply(RunStarted(run_id=R, route="default", prompt="hi"))
    state.apply(HopStarted(run_id=R, hop_id="s1", kind="step", name="answer"))


def attempt(state: RunState, hop: str, n: int, model: str) -> None:
    state.apply(HopStarted(run_id=R, hop_id=hop, parent_id="s1", kind="attempt", name=model, model=model, attempt=n))


def tokens(state: RunState, hop: str, *parts: str) -> None:
    state.apply(FirstToken(run_id=R, hop_id=hop, ttft_ms=12.5))
    for part in parts:
        state.apply(Token(run_id=R, hop_id=hop, text=part))


def test_many_tokens_make_one_frame_and_an_idle_state_makes_an_empty_one() -> None:
    state = RunState("default", "hi")
    start(state)
    attempt(state, "a1", 1, "swift")
    tokens(state, "a1", *(f"w{i} " for i in range(200)))
    frame = state.take_frame()
    assert frame.append == "".join(f"w{i} " for i in range(200))
    assert [row.key for row in frame.rows] == ["s1", "a1"]  # each changed row once, in order
    assert frame.rows[1].status == "streaming" and frame.rows[1].ttft_ms == 12.5
    empty = state.take_frame()
    assert not empty and empty.append == "" and empty.rows == [] and empty.reset is None


def test_a_failed_attempts_partial_text_is_dropped_before_the_fallback_streams() -> None:
    state = RunState("fallback", "hi")
    start(state)
    attempt(state, "a1", 1, "outage")
    tokens(state, "a1", "The sky ", "is")
    state.apply(
        HopFinished(
            run_id=R,
            hop_id="a1",
            parent_id="s1",
            kind="attempt",
            name="outage",
            attempt=1,
            status="error",
            error="connection dropped mid-stream",
            latency_ms=40.0,
        )
    )
    state.apply(Decision(run_id=R, hop_id="s1", action="fallback", target="steady", reason="outage dropped"))
    attempt(state, "a2", 2, "steady")
    tokens(state, "a2", "Rayleigh ", "scattering.")
    state.apply(
        HopFinished(
            run_id=R,
            hop_id="a2",
            parent_id="s1",
            kind="attempt",
            name="steady",
            attempt=2,
            status="ok",
            latency_ms=90.0,
            input_tokens=10,
            output_tokens=4,
            cost_usd=Decimal("0.0000123"),
        )
    )
    frame = state.take_frame()
    assert frame.reset == ""  # the broken prefix is taken back...
    assert frame.append == "Rayleigh scattering."  # ...and only the fallback's text is shown
    assert state.answer == "Rayleigh scattering."
    by_key = {row.key: row for row in frame.rows}
    assert by_key["a1"].status == "error" and by_key["a2"].status == "ok"
    assert by_key["a2"].cost_usd == Decimal("0.0000123") and by_key["a2"].output_tokens == 4
    assert by_key["decision-1"].label == "fallback → steady"
    assert frame.notes == [
        Note("error", "outage (attempt 1) error: connection dropped mid-stream"),
        Note("decision", "fallback → steady: outage dropped"),
    ]


def test_step_rows_carry_no_tokens_or_cost_and_skipped_attempts_get_a_row() -> None:
    state = RunState("budget", "hi")
    start(state)
    state.apply(
        HopFinished(
            run_id=R,
            hop_id="a1",
            parent_id="s1",
            kind="attempt",
            name="sage",
            attempt=1,
            status="skipped",
            reason="run cap $0.001: worst case too high",
        )
    )
    state.apply(
        HopFinished(
            run_id=R, hop_id="s1", kind="step", name="answer", status="error", latency_ms=5.0, error="sage refused"
        )
    )
    rows = {row.key: row for row in state.take_frame().rows}
    assert rows["a1"].status == "skipped" and rows["a1"].label.strip() == "sage"
    assert rows["s1"].cost_usd is None and rows["s1"].input_tokens is None


def test_several_steps_get_a_heading_each() -> None:
    state = RunState("chain", "hi", multi_step=True)
    state.apply(HopStarted(run_id=R, hop_id="s1", kind="step", name="draft"))
    attempt(state, "a1", 1, "steady")
    tokens(state, "a1", "first")
    state.apply(HopFinished(run_id=R, hop_id="a1", parent_id="s1", kind="attempt", attempt=1, status="ok"))
    state.apply(HopStarted(run_id=R, hop_id="s2", kind="step", name="polish"))
    attempt(state, "a2", 1, "steady")
    tokens(state, "a2", "second")
    assert state.take_frame().append == "**`draft`**\n\nfirst\n\n**`polish`**\n\nsecond"


def test_cancelling_closes_the_rows_still_open() -> None:
    state = RunState("default", "hi")
    start(state)
    attempt(state, "a1", 1, "swift")
    tokens(state, "a1", "par")
    state.take_frame()
    state.mark_cancelled()
    frame = state.take_frame()
    assert {row.key: row.status for row in frame.rows} == {"s1": "cancelled", "a1": "cancelled"}
    assert frame.notes == [Note("warning", "swift (attempt 1) cancelled: cancelled by user")]


def test_a_run_that_did_not_stream_shows_its_output() -> None:
    state = RunState("default", "hi")
    start(state)
    state.apply(RunFinished(run_id=R, status="ok", output="whole answer", latency_ms=1.0))
    frame = state.take_frame()
    assert frame.reset == "whole answer" and frame.finished is not None
    assert state.take_frame().finished is None  # handed out once


def test_an_estimated_hop_cost_is_marked() -> None:
    from decimal import Decimal

    from workbench.engine.events import HopFinished, HopStarted
    from workbench.tui.runner import RunState
    from workbench.tui.widgets.waterfall import _cost_text as _cost

    state = RunState(prompt="p", route="r")
    state.apply(HopStarted(run_id="r1", hop_id="r1.2", parent_id="r1.1", kind="attempt", name="m", attempt=1))
    state.apply(
        HopFinished(
            run_id="r1",
            hop_id="r1.2",
            parent_id="r1.1",
            kind="attempt",
            name="m",
            attempt=1,
            status="cancelled",
            input_tokens=10,
            output_tokens=3,
            cost_usd=Decimal("0.00001"),
            usage={"input_source": "estimated", "output_source": "estimated"},
        )
    )
    row = state.rows["r1.2"]
    assert row.estimated is True
    assert _cost(row.cost_usd, row.estimated).startswith("~")
    assert not _cost(row.cost_usd, False).startswith("~")
