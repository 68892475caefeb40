"""The simulator plays every role: a classifier's label from the categories' words, a judge's score, and
Markdown-shaped answers (heading and list; a code block when the prompt asks for code)."""

from __future__ import annotations

import json

import pytest

from workbench.engine.route_step import classifier_system
from workbench.sim.roles import JUDGE_MARK, classify, judge, role_answer
from workbench.sim.shapes import shaped_answer
from workbench.tokens import count_text

CATS = {"billing": "invoices refunds payment card", "technical": "errors crashes login password"}


def test_classifier_label_follows_the_categories_words() -> None:
    system = classifier_system(CATS)
    assert classify(system, "my login fails with a password error") == ("technical", 0.97)
    assert classify(system, "refund my card payment please")[0] == "billing"
    label, conf = classify(system, "a poem about autumn")
    assert (label, conf) == ("billing", 0.2)  # no shared word: first category, low confidence
    answer = json.loads(role_answer([{"role": "system", "content": system}, {"role": "user", "content": "login"}], 1))
    assert answer == {"label": "technical", "confidence": 0.97}  # 0.45 + 0.5 * (1 - 0) / 1 + 0.02
    # a tie is unsure: under the usual min_confidence of 0.5, so a router takes its default
    assert classify(system, "a refund for my login") == ("billing", 0.47)  # 0.45 + 0.5 * 0 / 1 + 0.02, the first


# Categories written the way a profile describes them (not the demo's own words): what a small model would
# make of everyday customer messages, including words no description names.
SUPPORT = {
    "factual": "a question about how something works - account, settings, shipping, invoices, plans",
    "greeting": "a greeting or small talk - hello, hey, morning, bye",
    "sentiment": "praise and thanks - love, great, thanks, happy, awesome",
    "complaint": "an angry complaint - broken, unacceptable, worst, charged, cancel, manager",
}


@pytest.mark.parametrize(
    "message, label",
    [
        ("hello", "greeting"),
        ("Hi!", "greeting"),  # two letters, and not in the description: a greeting all the same
        ("Good evening", "greeting"),  # `evening` is near `morning`
        ("Thank you so much!", "sentiment"),
        ("I love how fast the delivery was, thank you so much!", "sentiment"),  # not a `how` question
        ("You guys are brilliant", "sentiment"),  # near `great`
        ("Where is my parcel? It's late.", "factual"),  # a question, and a parcel is near shipping
        ("Can I get a copy of last month's invoice?", "factual"),
        ("How do I change my password?", "factual"),  # a question; `password` near `account`
        ("This is the worst service, my order arrived broken and I was charged twice", "complaint"),
        ("I want to speak to a supervisor", "complaint"),  # near `manager`
    ],
)
def test_the_classifier_reads_everyday_messages_like_a_small_model(message: str, label: str) -> None:
    got, confidence = classify(classifier_system(SUPPORT), message)
    assert (got, confidence >= 0.5) == (label, True), (message, got, confidence)


def test_a_message_no_category_speaks_to_is_unsure() -> None:
    assert classify(classifier_system(SUPPORT), "asdfgh qwerty") == ("factual", 0.2)
    # a question on nothing the categories name is a question all the same (the first category that asks one)
    assert classify(classifier_system(SUPPORT), "Is it going to rain tomorrow?")[0] == "factual"


def test_judge_scores_how_much_of_the_request_the_answer_takes_up() -> None:
    assert judge("Request:\nlighthouse keeper lamp\n\nAnswer:\nthe lighthouse keeper trims the lamp") == 0.95
    assert judge("Request:\nlighthouse keeper lamp\n\nAnswer:\nbread and butter") == 0.35
    out = role_answer(
        [
            {"role": "system", "content": JUDGE_MARK + " Rubric: x"},
            {"role": "user", "content": "Request:\na\nAnswer:\nb"},
        ],
        1,
    )
    assert json.loads(out)["verdict"] in {"pass", "fail"}
    assert role_answer([{"role": "user", "content": "hi"}], 1) is None


def answer(prompt: str, tokens: int = 120) -> str:
    return shaped_answer(
        seed=7, model="m", prompt_text=prompt, focus=prompt, answer_tokens=tokens, encoding="o200k_base"
    )


def test_long_answers_are_markdown_and_code_prompts_get_code() -> None:
    prose = answer("Why do lighthouses use Fresnel lenses?")
    assert prose.startswith("## ") and "\n- " in prose and "```" not in prose
    code = answer("Write a Python function that parses invoices")
    assert "```python\ndef " in code and code.count("```") == 2
    assert 90 <= count_text(code) <= 150  # the length still follows answer_tokens
    assert not answer("short one", tokens=30).startswith("##")
