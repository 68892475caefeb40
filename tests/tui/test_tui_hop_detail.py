"""Hop detail masks secrets by what they are, not by how a field is named (issue 20, item 18): credential fields and
the values of the key variables the profile names are `***`; `first_token_ts` and token counts are shown."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from tui_helpers import demo_profile, run_to_end

from workbench.engine.events import HopFinished
from workbench.tui.app import make_app
from workbench.tui.runner import HopRow
from workbench.tui.screens.hop_detail import HopDetailScreen, describe
from workbench.tui.widgets import Waterfall


def with_key_env(env_name: str):  # noqa: ANN201 (a LoadedProfile)
    """The demo profile whose Anthropic-wire simulator takes its key from `env_name`."""
    loaded = demo_profile()
    providers = dict(loaded.profile.providers)
    providers["sim-anthropic"] = providers["sim-anthropic"].model_copy(update={"api_key_env": env_name})
    return replace(loaded, profile=loaded.profile.model_copy(update={"providers": providers}))


async def test_the_detail_shows_first_token_time_and_masks_the_key_variables_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key's value is made equal to text the hop's events really carry (sage's wire model id), so the screen
    # must mask it wherever it appears, whatever the field is called.
    monkeypatch.setenv("WB_TEST_KEY", "sim-sage")
    app = make_app(with_key_env("WB_TEST_KEY"), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await run_to_end(pilot, "hi", route="frontier")  # sage answers first time
        hops = app.screen.query_one(Waterfall)
        row = next(r for r in app.screen.state.rows.values() if r.kind == "attempt" and r.status == "ok")
        finished = next(e for e in row.events if e.type == "hop_finished")
        hops.focus()
        hops.highlighted = [r.key for _, r in app.screen.state.ordered_rows()].index(row.key)
        await pilot.press("enter")
        assert isinstance(app.screen, HopDetailScreen)
        shown = str(app.screen.query_one("#hop-detail").render())
    assert f'"first_token_ts": {json.dumps(finished.first_token_ts)}' in shown
    assert f'"output_tokens": {finished.output_tokens}' in shown
    assert row.model == "sage" and "sim-sage" not in shown and '"model_id": "***"' in shown


def test_credential_fields_and_key_values_are_masked_everywhere_else_kept() -> None:
    key = "sk-live-4f2a9c0d7e1b"
    event = HopFinished(
        run_id="r1",
        hop_id="h1",
        kind="attempt",
        name="answer",
        status="error",
        latency_ms=12.0,
        error=f"401 from the provider: invalid key {key}",
        first_token_ts=1765000000.5,
        data={"request": {"headers": {"Authorization": "Bearer x-anything", "X-Api-Key": "abc"}, "cache_key": "k1"}},
    )
    text = describe(HopRow(key="h1", kind="attempt", label="swift", events=[event]), [key])
    data = json.loads(text[text.index("{") :])
    assert data["error"] == "401 from the provider: invalid key ***"
    assert data["data"]["request"]["headers"] == {"Authorization": "***", "X-Api-Key": "***"}
    assert data["data"]["request"]["cache_key"] == "k1"
    assert data["first_token_ts"] == 1765000000.5
    assert key not in text


def test_the_detail_of_a_saved_runs_hop_shows_its_stored_row(tmp_path: Path) -> None:
    # A saved run's rows carry RecordedEvents (stored rows), not engine events: describe() once read `.type` on
    # each and raised AttributeError, so Enter on a hop of an opened saved run failed.
    from workbench.store import open_store
    from workbench.store.synthetic import fill
    from workbench.tui.sessions_model import recorded_state

    with open_store(tmp_path / "wb.db") as store:
        fill(store, 21)
        detail = store.get_run("run-00000020")  # an error run on sage: HTTP 503 (see store.synthetic)
    attempt = next(r for _, r in recorded_state(detail).ordered_rows() if r.kind == "attempt")
    shown = describe(attempt)
    assert '"type": "recorded hop"' in shown
    assert '"status": "error"' in shown and "HTTP 503 from the provider" in shown
