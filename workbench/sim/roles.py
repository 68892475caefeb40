"""The simulator's answers to role prompts: a classifier's label and a judge's score, chosen deterministically.

The engine's classifier (`workbench.engine.route_step`) sends a system prompt starting with `CLASSIFIER_MARK`
that lists `Categories:` as `- name: description` lines; the simulator answers `{"label": ..., "confidence": ...}`
the way a small model would, by words, with a little of what a model knows beyond the words it was given:
- a request word found in a category's name or description scores 1, shared out among the categories that have
  it (a word every category names tells none apart); light stemming: words match on their first five letters;
- a word *related* to one a category names (`RELATED`: parcel ~ delivery, hi ~ hello, refund ~ money back ...)
  scores half that, so "Where is my parcel?" reads as a delivery question though no description says "parcel";
- a question (a `?`, or a request that opens with how/what/where/can/do/is ...) also counts as the word
  "question", which categories describing questions name.
The best score wins, with confidence from its margin over the runner-up: a clear lead is confident (up to 0.97),
a tie is unsure (under 0.5, so a router at the usual `min_confidence` takes its default). No word scores at
all: the first category, at confidence 0.2. The judge (`workbench.engine.gate`) sends `JUDGE_MARK` with a
rubric and a `Request:` / `Answer:` pair; the score is how much of the request's vocabulary the answer takes up,
0.35 to 0.95.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workbench.roles import CLASSIFIER_MARK, JUDGE_MARK

_WORD = re.compile(r"[a-z]{2,}")
_STOP = frozenset(
    "the and for are but not you your with this that have has was were what when where which who why how can does"
    " did from into about there their them they will would should could please our out any all its also just been"
    " than then some more most very too only one".split()
)
#: words a small model knows to be near each other (every member of a group relates to every other), for
#: customer messages and everyday chat: greetings, thanks, praise, delivery, delays, refunds, accounts, prices,
#: damage, anger, cancelling, people. Matched by stem like everything else (`delivered` is `deliv`).
RELATED: tuple[frozenset[str], ...] = tuple(
    frozenset(group.split())
    for group in (
        "hello hi hey hiya howdy greetings morning afternoon evening",
        "bye goodbye farewell cheers",
        "thanks thank thx grateful appreciate appreciated cheers kudos",
        "love great awesome amazing wonderful fantastic excellent brilliant perfect happy glad pleased delighted"
        " nice lovely impressed enjoy enjoyed",
        "parcel package delivery deliver delivered ship ships shipping shipment shipped courier tracking track"
        " dispatch arrive arrived arrival postage",
        "late delayed delay waiting wait overdue slow missing lost still",
        "refund refunds reimburse reimbursement money return returns returned chargeback",
        "password login logged sign signin locked account username credentials",
        "price prices pricing cost costs fee fees plan plans subscription charge charged billing bill invoice"
        " invoices payment pay paid",
        "broken damaged defective faulty cracked smashed torn",
        "angry furious annoyed unacceptable terrible awful horrible worst ridiculous disgusted outraged",
        "cancel cancellation unsubscribe close",
        "human agent person manager representative supervisor",
    )
)
_QUESTION_OPENERS = frozenset(
    "how what where when why who which can could do does did is are was will would should may".split()
)
#: stands for "the request is a question": matches categories that describe questions
_QUESTION = "quest"


def _group_stems() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for group in RELATED:
        stems = {w[:5] for w in group}
        for stem in stems:
            out.setdefault(stem, set()).update(stems - {stem})
    return {stem: frozenset(near) for stem, near in out.items()}


_NEAR = _group_stems()


def _words(text: str) -> list[str]:
    """Content words: three letters or more, or a short word a related group holds (`hi`)."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and (len(w) > 2 or w in _NEAR)]


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _words(text)}


def _is_question(request: str) -> bool:
    words = _WORD.findall(request.lower())
    return "?" in request or (bool(words) and words[0] in _QUESTION_OPENERS)


def _text(content: Any) -> str:
    from workbench.sim.plan import message_text

    return message_text(content)


def _scores(cats: list[tuple[str, str]], request: str) -> list[float]:
    named = [_stems(f"{name} {desc}") for name, desc in cats]
    related = [frozenset().union(*(_NEAR.get(w, frozenset()) for w in words)) - words for words in named]
    asked = _stems(request) | ({_QUESTION} if _is_question(request) else set())
    scores = [0.0] * len(cats)
    for word in asked:
        direct = [i for i, words in enumerate(named) if word in words]
        if direct:
            for i in direct:
                scores[i] += 1.0 / len(direct)
            continue
        near = [i for i, words in enumerate(related) if word in words]
        for i in near:
            scores[i] += 0.5 / len(near)
    return scores


def classify(system: str, request: str) -> tuple[str, float]:
    cats: list[tuple[str, str]] = []
    after = system.split("Categories:", 1)[1] if "Categories:" in system else ""
    for line in after.splitlines():
        m = re.match(r"\s*-\s*([A-Za-z0-9_.:/@-]+)\s*:\s*(.*)", line)
        if m:
            cats.append((m.group(1), m.group(2)))
    if not cats:
        return "unknown", 0.0
    scored = sorted(((score, -i, cats[i][0]) for i, score in enumerate(_scores(cats, request))), reverse=True)
    best, second = scored[0][0], (scored[1][0] if len(scored) > 1 else 0.0)
    if best == 0:
        return cats[0][0], 0.2
    confidence = round(min(0.45 + 0.5 * (best - second) / best + 0.02 * min(best, 2), 0.97), 2)
    return scored[0][2], confidence


def judge(request_and_answer: str) -> float:
    request, _, answer = request_and_answer.partition("\nAnswer:")
    want = _stems(request.replace("Request:", ""))
    if not want:
        return 0.5
    return round(0.35 + 0.6 * len(want & _stems(answer)) / len(want), 2)


def role_answer(messages: list[dict[str, Any]], seed: int) -> str | None:
    """The answer to a classifier or judge prompt, or None for an ordinary request."""
    system = next((_text(m.get("content")) for m in messages if m.get("role") == "system"), "")
    if not system:
        return None
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    request = users[-1] if users else ""
    if system.startswith(CLASSIFIER_MARK):
        label, confidence = classify(system, request)
        return json.dumps({"label": label, "confidence": confidence})
    if system.startswith(JUDGE_MARK):
        score = judge(request)
        verdict = "pass" if score >= 0.6 else "fail"
        why = "the answer takes up the request's main points" if verdict == "pass" else "the answer misses the request"
        return json.dumps({"score": score, "verdict": verdict, "reason": why})
    return None
