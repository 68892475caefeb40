"""Checks on one answer: what a dataset case asks of the route's output.

Each check is a small frozen dataclass with `evaluate(obs) -> (passed, detail)`, where `obs` is what one run
produced (output text, output tokens, cost, latency). Check types (dataset spelling):

    expected: TEXT            the whole answer equals TEXT (surrounding whitespace ignored)
    contains: TEXT | [TEXT]   every TEXT appears (case-insensitive unless `ignore_case: false`)
    not_contains: TEXT | [..] none appears
    regex: PATTERN            the pattern is found (Python `re.search`)
    json: true                the answer is JSON
    contains_json: true       a JSON object or array appears somewhere in the answer
    json_schema: {...}        the answer is JSON valid against this JSON Schema
    max_tokens: N             the answer used at most N output tokens
    max_cost_usd: X           the run cost at most X dollars
    max_latency_ms: N         the run took at most N ms
    judge: RUBRIC             a judge model scores the answer against the rubric (needs `--judge MODEL`)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Observation:
    output: str
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: float = 0.0
    status: str = "ok"
    judge_score: float | None = None  # filled by the runner when a judge check is present


@dataclass(frozen=True)
class Check:
    type: str
    value: Any = None
    ignore_case: bool = True
    threshold: float = 0.7
    label: str = ""

    def describe(self) -> str:
        if self.label:
            return self.label
        value = self.value if not isinstance(self.value, dict) else "schema"
        return f"{self.type}({value!r})" if value not in (None, True) else self.type

    def evaluate(self, obs: Observation) -> tuple[bool, str]:
        text = obs.output or ""
        kind = self.type
        if obs.status == "error" and kind not in ("max_cost_usd", "max_latency_ms"):
            return False, "the run failed"
        if kind == "expected":
            ok = text.strip() == str(self.value).strip()
            return ok, "" if ok else "the answer differs from the expected text"
        if kind in ("contains", "not_contains"):
            wanted = self.value if isinstance(self.value, list) else [self.value]
            hay = text.lower() if self.ignore_case else text
            found = [w for w in wanted if (str(w).lower() if self.ignore_case else str(w)) in hay]
            if kind == "contains":
                missing = [w for w in wanted if w not in found]
                return not missing, "" if not missing else f"missing {', '.join(map(repr, missing))}"
            return not found, "" if not found else f"contains {', '.join(map(repr, found))}"
        if kind == "regex":
            flags = re.IGNORECASE if self.ignore_case else 0
            ok = re.search(str(self.value), text, flags) is not None
            return ok, "" if ok else f"no match for /{self.value}/"
        if kind == "json":
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                return False, f"not JSON ({exc.msg})"
            return True, ""
        if kind == "contains_json":
            ok = _find_json(text) is not None
            return ok, "" if ok else "no JSON object or array in the answer"
        if kind == "json_schema":
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                return False, f"not JSON ({exc.msg})"
            import jsonschema

            errors = sorted(jsonschema.Draft202012Validator(self.value).iter_errors(doc), key=lambda e: e.path)
            return not errors, "" if not errors else errors[0].message
        if kind == "max_tokens":
            ok = obs.output_tokens <= int(self.value)
            return ok, "" if ok else f"{obs.output_tokens} output tokens > {self.value}"
        if kind == "max_cost_usd":
            ok = obs.cost <= Decimal(str(self.value))
            return ok, "" if ok else f"cost ${obs.cost} > ${self.value}"
        if kind == "max_latency_ms":
            ok = obs.latency_ms <= float(self.value)
            return ok, "" if ok else f"{obs.latency_ms:.0f} ms > {self.value} ms"
        if kind == "judge":
            if obs.judge_score is None:
                return False, "no judge score"
            ok = obs.judge_score >= self.threshold
            return ok, "" if ok else f"judge score {obs.judge_score:.2f} < {self.threshold}"
        raise ValueError(f"unknown check type {kind!r}")


CHECK_TYPES: tuple[str, ...] = (
    "expected",
    "contains",
    "not_contains",
    "regex",
    "json",
    "contains_json",
    "json_schema",
    "max_tokens",
    "max_cost_usd",
    "max_latency_ms",
    "judge",
)


def _find_json(text: str) -> Any:
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            return value
    return None


@dataclass(frozen=True)
class CheckResult:
    check: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    results: list[CheckResult] = field(default_factory=list)


def score(checks: list[Check], obs: Observation) -> Verdict:
    """All checks must pass; a case with no checks passes when its run did not fail."""
    if not checks:
        ok = obs.status != "error"
        return Verdict(ok, [CheckResult("run ok", ok, "" if ok else "the run failed")])
    results = [CheckResult(c.describe(), *c.evaluate(obs)) for c in checks]
    return Verdict(all(r.passed for r in results), results)
