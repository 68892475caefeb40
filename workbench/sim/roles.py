"""The simulator's answers to role prompts: a classifier's label and a judge's score, chosen deterministically.

The engine's classifier (`workbench.engine.route_step`) sends a system prompt starting with `CLASSIFIER_MARK`
that lists `Categories:` as `- name: description` lines; the simulator answers
`{"label": ..., "confidence": ...}` with the category whose name and description share the most words with the
request (light stemming: words match on their first five letters), confidence from the margin over the runner-up.
No shared word at all: the first category, at confidence 0.2 (a router then falls to its default). The judge
(`workbench.engine.gate`) sends `JUDGE_MARK` with a rubric and a `Request:` / `Answer:` pair; the score is how much
of the request's vocabulary the answer takes up, 0.35 to 0.95.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workbench.roles import CLASSIFIER_MARK, JUDGE_MARK

_WORD = re.compile(r"[a-z]{3,}")
_STOP = frozenset(
    "the and for are but not you your with this that have has was were what when where which who why can does did"
    " from into about there their them they will would should could please our out any all its also just been"
    " than then some more most very too only one".split()
)


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


def _text(content: Any) -> str:
    from workbench.sim.plan import message_text

    return message_text(content)


def classify(system: str, request: str) -> tuple[str, float]:
    cats: list[tuple[str, str]] = []
    after = system.split("Categories:", 1)[1] if "Categories:" in system else ""
    for line in after.splitlines():
        m = re.match(r"\s*-\s*([A-Za-z0-9_.:/@-]+)\s*:\s*(.*)", line)
        if m:
            cats.append((m.group(1), m.group(2)))
    if not cats:
        return "unknown", 0.0
    words = _stems(request)
    scored = [(len(words & _stems(f"{name} {desc}")), -i, name) for i, (name, desc) in enumerate(cats)]
    scored.sort(reverse=True)
    best, second = scored[0][0], (scored[1][0] if len(scored) > 1 else 0)
    if best == 0:
        return cats[0][0], 0.2
    confidence = round(min(0.55 + 0.4 * (best - second) / best + 0.02 * min(best, 2), 0.97), 2)
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
