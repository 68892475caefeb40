"""The simulator's answers: deterministic, on topic, and split into deltas that never break a character."""

from __future__ import annotations

from workbench.sim.text import content_words, make_answer, token_deltas, truncate_to_tokens
from workbench.tokens import count_text


def answer(prompt: str, seed: int = 7, tokens: int = 60) -> str:
    return make_answer(
        seed=seed, model="m", prompt_text=prompt, focus=prompt, answer_tokens=tokens, encoding="o200k_base"
    ).text


def test_content_words_skip_stop_words_and_rank_by_frequency() -> None:
    words = content_words("Why does my sourdough starter smell like acetone? The starter is two weeks old.")
    assert words[0] == "starter" and "sourdough" in words and "acetone" in words
    assert not {"why", "does", "the", "like", "is"} & set(words)
    assert content_words("NASA and PostgreSQL") == ["NASA", "PostgreSQL"]


def test_answers_are_deterministic_on_topic_and_end_on_a_sentence() -> None:
    a = answer("Tips for pruning apple trees in late winter")
    assert a == answer("Tips for pruning apple trees in late winter")
    assert a != answer("Tips for pruning apple trees in late winter", seed=8)
    assert "pruning" in a.lower() or "apple" in a.lower()
    assert a.endswith(".") and 40 <= count_text(a) <= 80


def test_answers_without_content_words_are_still_sentences() -> None:
    text = answer("?? 123 !!", tokens=30)
    assert text.endswith(".") and len(text.split()) > 8


def test_deltas_join_to_the_text_and_never_split_a_character() -> None:
    text = "Grüße aus 東京 🌸 — naïve café"
    deltas = token_deltas(text, "o200k_base")
    assert "".join(piece for piece, _ in deltas) == text
    assert all("\ufffd" not in piece for piece, _ in deltas)
    assert sum(n for _, n in deltas) == count_text(text)


def test_truncation_fits_the_limit_and_keeps_characters_whole() -> None:
    text = "🌸🌸🌸 blossoms 東京 everywhere"
    for limit in range(0, 12):
        cut = truncate_to_tokens(text, limit, "o200k_base")
        assert text.startswith(cut) and count_text(cut) <= limit
