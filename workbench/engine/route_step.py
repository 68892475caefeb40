"""The `route` step executor: pick a branch by rules, by a classifier model's label, or by a strong/weak score.

- rules: regex, keywords, prompt token bounds (by the tokenizer), metadata equals / one-of; first match wins.
- classifier: a cheap model (role "classifier") is sent the categories with their descriptions in the format
  `CLASSIFIER_SYSTEM` shows and answers `{"label": ..., "confidence": ...}`; an unknown label, a confidence under
  `min_confidence` or a failed call falls to `default`, and the decision says which.
- strong_weak: a difficulty score in [0, 1] from request features (length, code, several questions, demanding
  words) or from a classifier's confidence, against `threshold` (RouteLLM-style): at or above goes `strong`.
Each emits a `route` hop and a `branch` decision with the reason and structured data.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import Decision, DecisionAction, ErrorClass, Event, HopKind, HopStatus
from workbench.engine.subcall import Hop, model_step, run_model
from workbench.profiles import patterns
from workbench.roles import CLASSIFIER_MARK
from workbench.tokens import count_text

CLASSIFIER_SYSTEM = (
    CLASSIFIER_MARK + " Read the user's request and choose the one category that fits it best.\n"
    "Categories:\n{categories}\n"
    'Reply with JSON only: {{"label": "<category>", "confidence": <number between 0 and 1>}}'
)
_WORD = re.compile(r"[a-z0-9]+")


def classifier_system(categories: dict[str, str], instructions: str | None = None) -> str:
    lines = "\n".join(f"- {name}: {' '.join(desc.split())}" for name, desc in categories.items())
    text = CLASSIFIER_SYSTEM.format(categories=lines)
    return text + ("\n" + instructions if instructions else "")


def parse_label(text: str) -> tuple[str | None, float | None]:
    """(label, confidence) from a classifier's answer: JSON first, then `label: x` / `confidence: y` forms."""
    match = re.search(r"\{.*?\}", text, re.S)
    if match:
        try:
            obj = json.loads(match.group(0))
            label = obj.get("label")
            conf = obj.get("confidence")
            return (
                str(label).strip() if label is not None else None,
                float(conf) if isinstance(conf, int | float) else None,
            )
        except (ValueError, AttributeError):
            pass
    label_m = re.search(r"label\W{0,3}([A-Za-z0-9_.-]+)", text, re.I)
    conf_m = re.search(r"confidence\W{0,3}([01](?:\.\d+)?)", text, re.I)
    return (label_m.group(1) if label_m else None, float(conf_m.group(1)) if conf_m else None)


_HARD_WORDS = frozenset(
    "why how explain design architecture refactor compare analyse analyze tradeoff trade-offs migrate optimise"
    " optimize debug prove files modules across multiple concurrency".split()
)
_EASY_WORDS = frozenset("complete finish rename typo spell translate fill next line what".split())


def difficulty(text: str) -> tuple[float, dict[str, Any]]:
    """A difficulty score in [0, 1] from request features, with the features that made it."""
    tokens = count_text(text)
    words = _WORD.findall(text.lower())
    questions = text.count("?")
    code = bool(re.search(r"```|\bdef |\bclass |\bimport |[;{}]\s*$|=>|\(\)", text, re.M))
    parts = questions + len(re.findall(r"(?m)^\s*(?:\d+[.)]|[-*])\s+", text))
    files = sorted(set(re.findall(r"\b[\w/-]+\.(?:py|js|ts|tsx|go|rs|java|rb|c|cpp|h|cs|kt|swift)\b", text)))
    hard = sorted({w for w in words if w in _HARD_WORDS})
    easy = sorted({w for w in words if w in _EASY_WORDS})
    score = 0.35 * min(tokens / 300, 1.0)
    score += 0.15 if code else 0.0
    score += 0.1 * min(max(parts - 1, 0), 3)
    score += 0.12 * min(len(hard), 4)
    score += 0.2 if len(files) >= 2 else 0.0
    score -= 0.1 * min(len(easy), 2)
    score = round(min(max(score, 0.0), 1.0), 3)
    return score, {
        "tokens": tokens,
        "code": code,
        "parts": parts,
        "files": files,
        "hard_words": hard,
        "easy_words": easy,
    }


def _rule_matches(rule: Any, text: str, metadata: dict[str, str]) -> str | None:
    """Why `rule` matches (words), or None."""
    when = rule.when
    why: list[str] = []
    if when.regex is not None:
        if not patterns.search(when.regex, text):
            return None
        why.append(f"matches /{when.regex}/")
    if when.keywords:
        low = text.lower()
        hit = next((k for k in when.keywords if re.search(r"\b" + re.escape(k.lower()) + r"\b", low)), None)
        if hit is None:
            return None
        why.append(f"mentions {hit!r}")
    if when.min_tokens is not None or when.max_tokens is not None:
        n = count_text(text)
        if when.min_tokens is not None and n < when.min_tokens:
            return None
        if when.max_tokens is not None and n > when.max_tokens:
            return None
        why.append(f"{n} tokens")
    for key, want in when.metadata.items():
        have = metadata.get(key)
        options = want if isinstance(want, list) else [want]
        if have not in options:
            return None
        why.append(f"metadata {key}={have}")
    return ", ".join(why) or "matches always"


async def _classify(
    call: StepCall, hop: Hop, model: str, categories: dict[str, str], instructions: str | None
) -> AsyncIterator[Event | tuple[str | None, float | None, str | None]]:
    """Yields events, then one final (label, confidence, error) tuple."""
    step = model_step(
        f"{call.step.name}.classifier",
        model,
        system=classifier_system(categories, instructions),
        parent=call.step,
        max_output_tokens=60,
    )
    holder: list[StepResult] = []
    async for event in run_model(call, step, call.ctx.input, parent_id=hop.id, role="classifier", holder=holder):
        yield event
    result = holder[0]
    if result.status != "ok":
        yield (None, None, result.error or result.status)
        return
    label, conf = parse_label(result.output)
    yield (label, conf, None)


async def route_step(call: StepCall) -> AsyncIterator[Event]:
    step, ctx = call.step, call.ctx
    hop = Hop(call, HopKind.ROUTE)
    yield hop.started()
    text = ctx.input
    branch = step.default
    label: str | None = None
    score: float | None = None
    data: dict[str, Any] = {"mode": step.mode}
    reason = ""
    if step.mode == "rules":
        for i, rule in enumerate(step.rules):
            try:
                why = _rule_matches(rule, text, ctx.metadata)
            except patterns.PatternError as exc:  # a runaway regex: stopped, the step fails (class `pattern`)
                error = f"route step {step.name!r}, rule {i + 1}: {exc}"
                yield hop.finished(HopStatus.ERROR, error=error, error_class=ErrorClass.PATTERN)
                call.result = StepResult(name=step.name, kind="route", status="error", error=error, reason=error)
                return
            if why is not None:
                branch = rule.branch
                data.update({"rule": i, "matched": why})
                reason = f"rule {i + 1} → {branch}: {rule.reason or why}"
                break
        else:
            data["rule"] = None
            reason = f"no rule matched → default branch {branch!r}"
    elif step.mode == "classifier":
        cats = {name: cat.description for name, cat in step.categories.items()}
        outcome: tuple[str | None, float | None, str | None] = (None, None, "no answer")
        async for item in _classify(call, hop, step.classifier.model, cats, step.classifier.instructions):
            if isinstance(item, tuple):
                outcome = item
            else:
                yield item
        label, score, err = outcome
        data.update({"label": label, "confidence": score, "min_confidence": step.classifier.min_confidence})
        if err is not None:
            reason = f"the classifier call failed ({err}) → default branch {branch!r}"
            data["fallback"] = "call_failed"
        elif label not in step.categories:
            reason = f"the classifier answered an unknown label {label!r} → default branch {branch!r}"
            data["fallback"] = "invalid_label"
        elif score is None or score < step.classifier.min_confidence:
            reason = (
                f"the classifier said {label!r} with confidence {score} under {step.classifier.min_confidence}"
                f" → default branch {branch!r}"
            )
            data["fallback"] = "low_confidence"
        else:
            branch = step.categories[label].branch or label
            reason = f"the classifier labelled the request {label!r} (confidence {score:.2f}) → {branch}"
    else:
        sw = step.strong_weak
        data.update({"threshold": sw.threshold, "scorer": sw.scorer})
        err = None
        if sw.scorer == "classifier" and sw.model:
            cats = {
                "hard": "needs deep reasoning, several steps, several files or careful analysis",
                "easy": "a simple, short, single-step request",
            }
            outcome = (None, None, "no answer")
            async for item in _classify(call, hop, sw.model, cats, None):
                if isinstance(item, tuple):
                    outcome = item
                else:
                    yield item
            label, conf, err = outcome
            if err is None and label in cats and conf is not None:
                score = round(conf if label == "hard" else 1.0 - conf, 3)
                data.update({"label": label, "confidence": conf})
        if score is None:
            score, features = difficulty(text)
            data["features"] = features
            if err is not None:
                data["classifier_error"] = err
        branch = sw.strong if score >= sw.threshold else sw.weak
        side = "≥" if score >= sw.threshold else "<"
        reason = f"difficulty {score:.2f} {side} threshold {sw.threshold} → {branch}"
        data["score"] = score
    data["branch"] = branch
    yield Decision(
        run_id=call.state.run_id,
        hop_id=hop.id,
        action=DecisionAction.BRANCH,
        target=branch,
        reason=reason,
        data=data,
    )
    yield hop.finished(data=data, score=score, output=branch)
    call.result = StepResult(
        name=step.name, kind="route", branch=branch, label=label, score=score, data=data, output=ctx.last_output
    )
