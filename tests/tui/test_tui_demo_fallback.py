"""The demo's support route in the playground: a question no help-centre note covers takes the gate's fallback
path, and the screen says so — the gate's decision in the waterfall, `degraded` and its reason in the totals."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import answer_text, demo_profile, run_to_end

from workbench.tui.app import make_app
from workbench.tui.widgets.status_line import StatusLine


async def test_a_question_no_note_covers_shows_the_fallback_path(tmp_path: Path) -> None:
    app = make_app(demo_profile(), settings_file=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.wait_for_engine()
        await run_to_end(pilot, "Where is my parcel? It's late.", route="support")
        state = app.screen.state
        fin = state.finished
        assert fin is not None and fin.status == "degraded" and fin.output.strip()
        labels = [row.label for row in state.rows.values()]
        assert "gate → general" in labels and "general_answer" in labels and "answer" not in labels
        assert answer_text(app).strip() == fin.output.strip()
        status = str(app.screen.query_one(StatusLine).render())
        assert "degraded" in status and "no help-centre note covers this question" in status
