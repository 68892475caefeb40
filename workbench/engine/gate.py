"""The `gate` step executor: check an earlier step's output; on failure apply the gate's policy.

Checks: contains / forbids (text or regex), json (parse, then JSON Schema via `jsonschema`), length (chars and
tokens), relevance (a lexical score of the retrieved documents against the request), judge (a model scores the
output against a rubric, role "judge"), pii (emails, phones, Luhn-valid card numbers, API keys, IPs). Every check
is a `gate` hop with its verdict, score and detail (a judge's call is an attempt hop under it and costs what it
cost).

On failure, `on_fail`:
- retry: re-run the checked step with the gate's feedback appended (`ctx.feedback` too), at most `max_retries`
  times, then fall back to its next targets, then fail;
- fallback: re-run the checked step from the target after the one that answered;
- fail: the run ends with the gate's reason;  - warn: a decision says so and the run goes on;
- degrade: the fallback path, for a component whose "good enough" was not met but whose run can still deliver
  value: `degrade.branch` (another branch of a route step the gate sits in) replaces the rest of the gate's
  branch, or without it the run goes on with the next step; either way a decision gives the reason
  (`degrade.note`, else the failed checks) and the run ends `degraded` (an answer, flagged) instead of `error`.
  The failed checks are the next steps' `feedback`. A branch already fallen back to in this run is not entered
  again: that gate fails the run instead of looping.
A re-run's output replaces the checked step's result and the run's current output.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import Decision, DecisionAction, ErrorClass, Event, GateVerdict, HopKind, HopStatus
from workbench.engine.subcall import Hop, model_step, run_model
from workbench.profiles import patterns
from workbench.roles import JUDGE_MARK
from workbench.tokens import count_text

JUDGE_SYSTEM = (
    JUDGE_MARK + " Score how well the answer meets the rubric, from 0 (not at all) to 1 (fully).\n"
    "Rubric: {rubric}\n"
    'Reply with JSON only: {{"score": <number between 0 and 1>, "verdict": "pass" or "fail", "reason": "<why>"}}'
)
_TERM = re.compile(r"[a-z0-9]{3,}")
_STOP = frozenset(
    "the and for are but not you your with this that have has was were what when where which who why how can does"
    " did from into about there their them they will would should could please our out any all its also just".split()
)
_OUTPUT_KINDS = ("generate", "parallel", "transform")


def terms(text: str) -> set[str]:
    """Content words, lightly stemmed (their first five characters), so `invoice` finds `Invoices` and
    `return` finds `returned`."""
    return {t[:5] for t in _TERM.findall(text.lower()) if t not in _STOP}


def relevance(query: str, docs: list[dict[str, Any]]) -> float:
    """Share of the query's content words (stemmed) found in the best document (0 when there is none)."""
    wanted = terms(query)
    if not wanted or not docs:
        return 0.0
    return round(max(len(wanted & terms(f"{d.get('title', '')} {d.get('text', '')}")) / len(wanted) for d in docs), 3)


def parse_judge(text: str) -> float | None:
    match = re.search(r"\{.*?\}", text, re.S)
    if match:
        try:
            score = json.loads(match.group(0)).get("score")
            if isinstance(score, int | float):
                return float(score)
        except (ValueError, AttributeError):
            pass
    m = re.search(r"score\W{0,3}([01](?:\.\d+)?)", text, re.I)
    return float(m.group(1)) if m else None


def _json_text(text: str) -> str:
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.S)
    return fenced.group(1) if fenced else text.strip()


def check_static(check: Any, text: str, ctx: Any) -> tuple[bool, float | None, str]:
    """(passed, score, detail) for every check kind except `judge`."""
    kind = check.type
    if kind in ("contains", "forbids"):
        if check.regex is not None:  # PatternError when it runs out of time: the caller fails the gate
            found = patterns.search(check.regex, text, ignore_case=check.ignore_case) is not None
            what = f"/{check.regex}/"
        else:
            needle = check.text or ""
            found = (needle.lower() in text.lower()) if check.ignore_case else (needle in text)
            what = repr(needle)
        ok = found if kind == "contains" else not found
        return ok, 1.0 if ok else 0.0, f"{'found' if found else 'did not find'} {what}"
    if kind == "json":
        try:
            value = json.loads(_json_text(text))
        except ValueError as exc:
            return False, 0.0, f"not JSON: {exc}"
        if check.json_schema is not None:
            import jsonschema

            try:
                jsonschema.validate(value, check.json_schema)
            except jsonschema.ValidationError as exc:
                where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
                return False, 0.0, f"JSON does not match the schema at {where}: {exc.message}"
        return True, 1.0, "valid JSON" + (" matching the schema" if check.json_schema else "")
    if kind == "length":
        chars, tokens = len(text), count_text(text)
        problems = []
        if check.min_chars is not None and chars < check.min_chars:
            problems.append(f"{chars} chars < {check.min_chars}")
        if check.max_chars is not None and chars > check.max_chars:
            problems.append(f"{chars} chars > {check.max_chars}")
        if check.min_tokens is not None and tokens < check.min_tokens:
            problems.append(f"{tokens} tokens < {check.min_tokens}")
        if check.max_tokens is not None and tokens > check.max_tokens:
            problems.append(f"{tokens} tokens > {check.max_tokens}")
        return not problems, None, "; ".join(problems) or f"{chars} chars, {tokens} tokens"
    if kind == "relevance":
        score = relevance(ctx.input, ctx.docs)
        ok = score >= check.threshold
        return ok, score, f"documents cover {score:.0%} of the request's words (threshold {check.threshold:.0%})"
    if kind == "pii":
        from workbench.engine.pii import find_pii

        pii = find_pii(text, check.kinds)
        words = ", ".join(f"{n} {k}" for k, n in sorted(pii.items()))
        return not pii, 0.0 if pii else 1.0, f"found {words}" if pii else "no PII found"
    raise ValueError(f"unknown check type {kind!r}")


def _evaluate(check: Any, text: str, ctx: Any) -> tuple[bool, float | None, str]:
    """A check other than `judge`, through its plugin (workbench/gates.py: the built-in ones are `check_static`).
    A plugin's check that raises fails, saying why: a bug in a third-party package does not end the run."""
    from workbench.gates import GATES
    from workbench.profiles.steps import PluginCheck

    if not isinstance(check, PluginCheck):
        return GATES.get(check.type).evaluate(check, text, ctx)
    try:
        return GATES.get(check.type).evaluate(check.options, text, ctx)
    except Exception as exc:  # noqa: BLE001 - a third-party check's defect becomes its verdict
        return False, None, f"the check raised {type(exc).__name__}: {exc}"


def _checked(call: StepCall) -> StepResult | None:
    ctx = call.ctx
    if call.step.of:
        return ctx.steps.get(call.step.of)
    for result in reversed(ctx.steps.values()):
        if result.kind in _OUTPUT_KINDS:
            return result
    return None


def _step_by_name(call: StepCall, name: str) -> tuple[Any, tuple[str | int, ...]] | None:
    route = call.engine.profile.routes.get(call.route)
    if route is None:
        return None
    for path, step in route.all_steps():
        if step.name == name:
            return step, path
    return None


async def _run_checks(
    call: StepCall, gate: Hop, text: str, failures: list[str], broken: list[str]
) -> AsyncIterator[Event]:
    """Each check under the gate hop; a failed check's words go to `failures`, a check that could not be
    evaluated (its regex ran out of time) to `broken`, and the checks stop there."""
    for check in call.step.checks:
        label = check.name or check.type
        hop = Hop(replace(call, parent_id=gate.id), HopKind.GATE, name=label)
        yield hop.started()
        if check.type == "judge":
            holder: list[StepResult] = []
            jstep = model_step(
                f"{call.step.name}.judge",
                check.model,
                system=JUDGE_SYSTEM.format(rubric=check.rubric),
                parent=call.step,
                max_output_tokens=80,
            )
            prompt = f"Request:\n{call.ctx.input}\n\nAnswer:\n{text}"
            async for event in run_model(call, jstep, prompt, parent_id=hop.id, role="judge", holder=holder):
                yield event
            res = holder[0]
            score = parse_judge(res.output) if res.status == "ok" else None
            if score is None:
                ok, detail = False, f"the judge gave no score ({res.error or res.output[:80]!r})"
            else:
                ok = score >= check.threshold
                detail = f"judge score {score:.2f} vs threshold {check.threshold}"
        else:
            try:
                ok, score, detail = _evaluate(check, text, call.ctx)
            except patterns.PatternError as exc:
                error = f"gate {call.step.name!r}, check {label!r}: {exc}"
                broken.append(error)
                yield hop.finished(
                    HopStatus.ERROR, check=label, verdict=GateVerdict.FAIL, error=error, error_class=ErrorClass.PATTERN
                )
                return
        verdict = GateVerdict.PASS if ok else GateVerdict.FAIL
        if not ok:
            failures.append(f"{label}: {detail}")
        yield hop.finished(check=label, verdict=verdict, score=score, detail=detail)


def _degrade(call: StepCall, gate: Hop, reason: str, failures: list[str]) -> tuple[Decision, StepResult] | str:
    """The decision and result of taking a gate's fallback path, or why it cannot be taken (its branch was already
    fallen back to in this run: the gate then fails the run rather than loop)."""
    from workbench.profiles.steps import degrade_branch
    from workbench.profiles.templates import render

    step, ctx = call.step, call.ctx
    options = step.degrade
    note = options.note if options is not None and options.note else None
    branch = options.branch if options is not None else None
    jump: tuple[tuple[str | int, ...], str] | None = None
    if branch is not None:
        owner = degrade_branch(call.engine.profile.routes[call.route].steps, call.path, branch)
        if owner is None:  # `profile check` refuses this; a profile built in code could still hold it
            return "degrade (no branch to fall back to)"
        jump = (owner, branch)
        if jump in ctx.fell_back:
            return "degrade (a fallback loop)"
        ctx.fell_back.add(jump)
    ctx.feedback = render(step.feedback, ctx.template_vars()) if step.feedback else "; ".join(failures)
    why = note or reason
    words = f"taking the fallback branch {branch!r}" if branch else "going on with the next step"
    data: dict[str, Any] = {"policy": "degrade", "failures": failures, "branch": branch, "note": note}
    decision = Decision(
        run_id=call.state.run_id,
        hop_id=gate.id,
        action=DecisionAction.GATE,
        reason=f"{reason}; {words}, the run ends degraded" + (f": {note}" if note else ""),
        target=branch,
        data=data,
    )
    result = StepResult(
        name=step.name,
        kind="gate",
        output=ctx.last_output,
        reason=why,
        data=dict(data),
        degraded=why,
        jump=jump,
    )
    return decision, result


async def gate_step(call: StepCall) -> AsyncIterator[Event]:
    from workbench.engine.governance import governed_generate

    step, ctx, run_id = call.step, call.ctx, call.state.run_id
    gate = Hop(call, HopKind.GATE)
    yield gate.started()
    checked = _checked(call)
    text = checked.output if checked is not None else ctx.last_output
    retries = 0
    tried_fallback = False
    while True:
        failures: list[str] = []
        broken: list[str] = []
        async for event in _run_checks(call, gate, text, failures, broken):
            yield event
        if broken:  # the gate cannot judge: an error of the profile's pattern, not of the answer (no retry)
            yield gate.finished(
                HopStatus.ERROR,
                verdict=GateVerdict.FAIL,
                detail=broken[0],
                error=broken[0],
                error_class=ErrorClass.PATTERN,
            )
            call.result = StepResult(name=step.name, kind="gate", status="error", error=broken[0], reason=broken[0])
            return
        if not failures:
            verdict = GateVerdict.PASS
            yield gate.finished(verdict=verdict, detail="all checks passed", data={"retries": retries})
            call.result = StepResult(name=step.name, kind="gate", output=ctx.last_output, data={"retries": retries})
            return
        reason = f"gate {step.name!r} failed: " + "; ".join(failures)
        found = _step_by_name(call, checked.name) if checked is not None else None
        target = found[0] if found is not None and found[0].kind == "generate" else None
        action = None
        if step.on_fail == "degrade":
            outcome = _degrade(call, gate, reason, failures)
            if not isinstance(outcome, str):
                decision, call.result = outcome
                yield decision
                yield gate.finished(verdict=GateVerdict.FAIL, detail=reason, data=decision.data)
                return
            step_on_fail = outcome
        else:
            step_on_fail = step.on_fail
        if step.on_fail == "warn":
            yield Decision(
                run_id=run_id,
                hop_id=gate.id,
                action=DecisionAction.GATE,
                reason=reason + "; warn only",
                data={"policy": "warn", "failures": failures},
            )
            yield gate.finished(verdict=GateVerdict.FAIL, detail=reason, data={"policy": "warn"})
            call.result = StepResult(name=step.name, kind="gate", output=ctx.last_output, reason=reason)
            return
        if target is not None and step.on_fail == "retry" and retries < step.max_retries:
            action = "retry"
        elif (
            target is not None and checked is not None and step.on_fail in ("retry", "fallback") and not tried_fallback
        ):
            used = checked.data.get("model")
            aliases = [t.model for t in target.targets]
            rest = target.targets[aliases.index(used) + 1 :] if used in aliases else []
            if rest:
                action = "fallback"
        if action is None:
            yield Decision(
                run_id=run_id,
                hop_id=gate.id,
                action=DecisionAction.GATE,
                reason=reason + "; failing the run",
                data={"policy": step_on_fail, "failures": failures, "retries": retries},
            )
            yield gate.finished(
                HopStatus.ERROR, verdict=GateVerdict.FAIL, detail=reason, error=reason, error_class=ErrorClass.GATE
            )
            call.result = StepResult(name=step.name, kind="gate", status="error", error=reason, reason=reason)
            return
        from workbench.profiles.templates import TemplateError, render_field

        assert checked is not None and found is not None and target is not None  # an action needs all three
        try:
            feedback = (
                render_field(step.name, "feedback", step.feedback, ctx.template_vars())
                if step.feedback
                else "; ".join(failures)
            )
        except TemplateError as exc:
            error = f"{reason}; {exc}"
            yield gate.finished(
                HopStatus.ERROR, verdict=GateVerdict.FAIL, detail=error, error=error, error_class=ErrorClass.TEMPLATE
            )
            call.result = StepResult(name=step.name, kind="gate", status="error", error=error, reason=error)
            return
        ctx.feedback = feedback
        original = checked.data.get("input", ctx.input)
        if action == "retry":
            retries += 1
            rerun = target.model_copy(update={"prompt": None, "history": target.history})
            user = f"{original}\n\nA reviewer rejected the previous answer: {feedback}. Please answer again."
            words = f"retrying {target.name!r} with the gate's feedback ({retries}/{step.max_retries})"
        else:
            tried_fallback = True
            used = checked.data.get("model")
            aliases = [t.model for t in target.targets]
            rerun = target.model_copy(update={"prompt": None, "targets": target.targets[aliases.index(used) + 1 :]})
            user = original
            words = f"falling back from {used!r} to {rerun.targets[0].model!r}"
        yield Decision(
            run_id=run_id,
            hop_id=gate.id,
            action=DecisionAction.GATE,
            reason=f"{reason}; {words}",
            target=target.name,
            data={"policy": action, "failures": failures, "retries": retries},
        )
        sub = StepCall(
            engine=call.engine,
            state=call.state,
            ctx=replace(ctx, last_output=user),
            route=call.route,
            step=rerun,
            path=found[1],
            cancel=call.cancel,
            parent_id=gate.id,
            extra_headers=call.extra_headers,
        )
        async for event in governed_generate(sub):
            yield event
        result = sub.result
        if result is None or result.status != "ok":
            error = f"{reason}; the re-run failed: {result.error if result else 'no result'}"
            yield gate.finished(
                HopStatus.ERROR, verdict=GateVerdict.FAIL, detail=error, error=error, error_class=ErrorClass.GATE
            )
            call.result = StepResult(name=step.name, kind="gate", status="error", error=error, reason=error)
            return
        result.data["input"] = original
        ctx.steps[target.name] = result
        ctx.last_output = result.output
        checked = result
        text = result.output
