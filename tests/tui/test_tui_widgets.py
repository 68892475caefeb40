"""The streaming widgets against their whole-text renderings: text fed frame by frame must look exactly like the
same text shown at once, while the widgets do less work per frame (chunks, incremental wrapping)."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from tui_helpers import next_frame, settled, until

from workbench.sim.shapes import shaped_answer
from workbench.tui.widgets.answer import AnswerView, cuts
from workbench.tui.widgets.answer_tail import LiveTail
from workbench.tui.widgets.stream_text import StreamText, wrap_offsets


def _answer(tokens: int = 400) -> str:
    return shaped_answer(
        seed=7,
        model="m",
        prompt_text="Why do circuit breakers help?",
        focus="circuit breakers",
        answer_tokens=tokens,
        encoding="cl100k_base",
    )


class _Host(App[None]):
    def __init__(self, widget: Any) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


def _fragments(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def test_an_answer_streamed_in_frames_renders_as_the_whole_answer_at_once() -> None:
    text = _answer()
    assert text.count("\n- ") > 12  # a long bullet list: the cuts fall inside it

    async def render(pieces: list[str], tail_rows: int, height: int) -> tuple[str, int, str, str]:
        view = AnswerView()
        view.tail_rows = tail_rows
        app = _Host(view)
        async with app.run_test(size=(70, height)) as pilot:
            for piece in pieces:
                await view.show(append=piece)
                await next_frame(pilot)  # a frame between pieces, as while streaming
                await until(pilot, lambda: not view._pending, "the frame's scroll to follow the end")
            live = view.tail.source  # still plain text: the run has not ended
            await view.finish()
            await pilot.resize_terminal(70, 400)  # all of it in view
            await settled(pilot)
            view.scroll_home(animate=False)
            await until(pilot, lambda: view.scroll_y == 0, "the view at its start")
            await settled(pilot)
            return app.export_screenshot(), len(view.chunks), view.text, live

    whole, one, whole_text, _ = await render([text], tail_rows=10_000, height=400)  # one Markdown document
    # Streamed into a short view that follows the end: what scrolls out of view settles chunk by chunk.
    streamed, many, streamed_text, live = await render(_fragments(text, 23), tail_rows=8, height=20)
    assert one == 1 and many > 2  # the frame-by-frame view did settle the answer in chunks...
    assert live and text.endswith(live)  # ...kept its end as plain text until the run ended...
    assert streamed_text == whole_text == text
    assert streamed == whole  # ...and it looks exactly the same


def test_cuts_fall_between_list_items_or_before_paragraphs_never_inside_a_fence() -> None:
    text = "## T\n\nOpening.\n\n- a\n- b\n- c\n- d"
    # before "Opening." (a paragraph after a blank line), before "- b", "- c", "- d" (the item above is complete)
    assert list(cuts(text)) == [(6, False), (20, True), (24, True), (28, True)]
    assert list(cuts("## T\n\n- a\n\nClosing line.\n")) == [(11, False)]  # not before a list after a blank
    assert list(cuts("```py\nx = 1\n\ny = 2\n```\n\nz\n")) == [(24, False)]  # not inside the code fence


def test_wrap_offsets_is_greedy_word_wrap_and_folds_long_words() -> None:
    text = "the quick brown fox jumps"
    starts = wrap_offsets(text, 0, 10)
    assert [text[a:b].rstrip() for a, b in zip(starts, [*starts[1:], len(text)], strict=True)] == [
        "the quick",
        "brown fox",
        "jumps",
    ]
    assert wrap_offsets("abcdefghijkl", 0, 5) == [0, 5, 10]


async def test_stream_text_appended_in_pieces_matches_the_text_set_at_once() -> None:
    text = _answer(300)

    async def render(pieces: list[str]) -> tuple[str, int]:
        view = StreamText()
        app = _Host(view)
        async with app.run_test(size=(33, 200)) as pilot:
            for piece in pieces:
                view.append(piece)
                await next_frame(pilot)  # a frame between pieces, as while streaming
            await settled(pilot)
            return app.export_screenshot(), view.line_count

    whole, n_whole = await render([text])
    streamed, n_streamed = await render(_fragments(text, 5))
    assert n_whole == n_streamed > text.count("\n")
    assert streamed == whole


async def test_stream_text_rewraps_when_resized_like_text_shown_at_the_new_width() -> None:
    text = _answer(200)

    async def render(width: int, resize_to: int | None = None) -> str:
        view = StreamText()
        app = _Host(view)
        async with app.run_test(size=(width, 120)) as pilot:
            view.append(text)
            await settled(pilot)
            if resize_to is not None:
                await pilot.resize_terminal(resize_to, 120)
                await settled(pilot)
            return app.export_screenshot()

    assert await render(33, resize_to=50) == await render(50)


async def test_the_live_tail_shows_bullets_and_headings_as_they_will_settle() -> None:
    tail = LiveTail()
    app = _Host(tail)
    async with app.run_test(size=(20, 10)) as pilot:
        tail.reserve(6)
        await settled(pilot)
        rows = tail.set_text("## Two words\n- alpha beta gamma delta\nplain")
        await settled(pilot)
        shown = [tail.render_line(y).text for y in range(6)]
        # A bullet wraps at 18 cells under its text, after "• "; the heading loses its hashes and is bold.
        assert shown == [
            "Two words".ljust(20),
            "• alpha beta gamma".ljust(20),
            "  delta".ljust(20),
            "plain".ljust(20),
            " " * 20,
            " " * 20,
        ]
        assert rows == 4
        assert tail.render_line(0)._segments[0].style.bold  # type: ignore[union-attr]


async def test_text_lines_takes_a_border_title_and_draws_it() -> None:
    # TextLines once defined a `render_str()` of its own, shadowing Textual's `Widget.render_str(text)`, which the
    # border title goes through: setting one raised TypeError (mypy strict over the TUI found the override).
    from workbench.tui.widgets.text_lines import TextLines

    lines = TextLines(id="lines")
    lines.styles.border = ("round", "white")
    lines.border_title = "hops"
    async with _Host(lines).run_test(size=(40, 6)) as pilot:
        assert str(lines.border_title) == "hops"
        assert "hops" in pilot.app.export_screenshot()
