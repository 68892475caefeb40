"""Governance and context fitting around a `generate` step, without touching its policy engine.

`governed_generate` is the executor registered for `generate`: before `generate_step` (a black box) runs, it
- refuses targets the step's `allow` forbids (providers, models, provider tags, `deny_tags` such as `external`):
  each refusal is a `decision` (action refuse, `data.rule`) and a skipped attempt hop with error class
  `governance` — never a silent change of target;
- masks the PII kinds listed in `redact` in everything sent (system, prompt, history) — the event names the
  kinds and counts, never the values;
- truncates the conversation history to the primary target's context window (and the step's `max_tokens`
  prompt cap) by the tokenizer's count, oldest turns first, system messages always kept — a `truncate` decision.
A step with none of these needs runs `generate_step` untouched.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import (
    Decision,
    DecisionAction,
    ErrorClass,
    Event,
    HopFinished,
    HopKind,
    HopStarted,
    HopStatus,
)
from workbench.engine.generate import generate_step, template_failed
from workbench.engine.pii import redact
from workbench.profiles.templates import TemplateError, render_field
from workbench.tokens import count_messages, encoding_for_model


def allow_violation(profile: Any, step: Any, alias: str) -> tuple[str, str] | None:
    """(rule, words) when `step.allow` forbids calling `alias`; None when allowed."""
    allow = getattr(step, "allow", None)
    if allow is None:
        return None
    model = profile.models[alias]
    provider = profile.providers[model.provider]
    tags = set(getattr(provider, "tags", None) or ())
    denied = sorted(tags & set(allow.deny_tags))
    if denied:
        return "deny_tags", f"provider {model.provider!r} is tagged {denied[0]!r}, which this step denies"
    if allow.providers and model.provider not in allow.providers:
        return "providers", f"provider {model.provider!r} is not in the allowed providers {allow.providers}"
    if allow.models and alias not in allow.models:
        return "models", f"model {alias!r} is not in the allowed models {allow.models}"
    if allow.tags and not tags & set(allow.tags):
        return "tags", f"provider {model.provider!r} carries none of the required tags {allow.tags}"
    return None


def fit_history(
    system: str | None,
    history: list[dict[str, str]],
    user: str,
    limit: int,
    *,
    model_id: str,
    encoding: str,
) -> tuple[list[dict[str, str]], int, int]:
    """The history with the oldest non-system turns dropped until system + history + user fits `limit` tokens.
    Returns (kept history, turns dropped, tokens of the final prompt)."""

    def count(hist: list[dict[str, str]]) -> int:
        msgs = ([{"role": "system", "content": system}] if system else []) + hist + [{"role": "user", "content": user}]
        return count_messages(msgs, model=model_id, encoding=encoding)

    kept = list(history)
    tokens = count(kept)
    dropped = 0
    while tokens > limit:
        idx = next((i for i, m in enumerate(kept) if m.get("role") != "system"), None)
        if idx is None:
            break
        del kept[idx]
        dropped += 1
        tokens = count(kept)
    return kept, dropped, tokens


def governed_generate(call: StepCall) -> AsyncIterator[Event]:
    """The `generate` executor: governance and history fitting, then `generate_step`.

    A step with no allow rules, no redaction, no token cap and no history to fit has nothing to govern: it goes
    straight to `generate_step`, so each streamed token passes through one generator frame fewer."""
    step = call.step
    if (
        step.allow is None
        and not step.redact
        and step.max_tokens is None
        and not (step.history and call.ctx.history)
        and call.allowed_targets is None
    ):
        return generate_step(call)
    return _governed_generate(call)


async def _governed_generate(call: StepCall) -> AsyncIterator[Event]:
    step, ctx, profile, state = call.step, call.ctx, call.engine.profile, call.state
    run_id = state.run_id
    refused: list[tuple[int, str, str, str]] = []  # (index, alias, rule, words)
    allowed = []
    for i, target in enumerate(step.targets):
        why = allow_violation(profile, step, target.model)
        if why is None:
            allowed.append(target)
        else:
            refused.append((i, target.model, *why))

    pre: list[Decision] = []  # decisions emitted under the step hop, before its attempts
    update: dict[str, Any] = {}
    sub_ctx = ctx
    error: str | None = None
    variables = ctx.template_vars()
    try:
        user = render_field(step.name, "prompt", step.prompt, variables) if step.prompt else ctx.last_output
        system = render_field(step.name, "system", step.system, variables) if step.system else None
    except TemplateError as exc:  # nothing is sent: the step ends in error, classified `template`
        for event in template_failed(call, exc):
            yield event
        return
    sub_input = user
    if allowed:
        history = list(ctx.history) if step.history else []
        changed = False
        if step.redact:
            masked: dict[str, int] = {}

            def mask(text: str) -> str:
                out, counts = redact(text, step.redact)
                for kind, n in counts.items():
                    masked[kind] = masked.get(kind, 0) + n
                return out

            system = mask(system) if system else system
            user = mask(user)
            history = [{**m, "content": mask(m.get("content", ""))} for m in history]
            if masked:
                changed = True
                words = ", ".join(f"{n} {k}" for k, n in sorted(masked.items()))
                pre.append(
                    Decision(
                        run_id=run_id,
                        hop_id=None,
                        action=DecisionAction.REDACT,
                        reason=f"masked PII before sending: {words}",
                        data={"kinds": dict(sorted(masked.items()))},
                    )
                )
        primary = profile.models[allowed[0].model]
        encoding = primary.tokenizer or encoding_for_model(primary.model)
        # the window holds the prompt and the answer: what the call reserves for output is not room for history
        wanted = allowed[0].max_output_tokens or step.max_output_tokens or primary.max_output_tokens
        limit = max(primary.context_window - min(wanted, primary.max_output_tokens), 0)
        if step.max_tokens is not None:
            limit = min(limit, step.max_tokens)
        if history:
            kept, dropped, tokens = fit_history(system, history, user, limit, model_id=primary.model, encoding=encoding)
            if dropped:
                changed = True
                history = kept
                pre.append(
                    Decision(
                        run_id=run_id,
                        hop_id=None,
                        action=DecisionAction.TRUNCATE,
                        reason=f"history cut to fit {limit} tokens: dropped the {dropped} oldest turn(s),"
                        f" kept {len(kept)}",
                        target=allowed[0].model,
                        data={"dropped_turns": dropped, "kept_turns": len(kept), "limit": limit, "tokens": tokens},
                    )
                )
        if step.max_tokens is not None:
            msgs = ([{"role": "system", "content": system}] if system else []) + history
            tokens = count_messages([*msgs, {"role": "user", "content": user}], model=primary.model, encoding=encoding)
            if tokens > step.max_tokens:
                error = f"the prompt is {tokens} tokens, over the step's max_tokens cap of {step.max_tokens}"
                pre.append(
                    Decision(
                        run_id=run_id,
                        hop_id=None,
                        action=DecisionAction.REFUSE,
                        reason=f"step {step.name!r} refused: {error}",
                        data={"rule": "max_tokens", "tokens": tokens, "max_tokens": step.max_tokens},
                    )
                )
        if changed:
            from workbench.engine.subcall import raw

            update.update({"prompt": None, "system": raw(system) if system else None, "history": bool(history)})
            sub_ctx = replace(ctx, last_output=user, history=history)
            sub_input = user
    else:
        error = f"every target of step {step.name!r} is refused by its allow rules"

    refusals: list[Event] = []

    def refusal_events(step_id: str) -> list[Event]:
        out: list[Event] = []
        for index, alias, rule, words in refused:
            model = profile.models[alias]
            out.append(
                Decision(
                    run_id=run_id,
                    hop_id=step_id,
                    action=DecisionAction.REFUSE,
                    reason=f"{alias} refused: {words}",
                    target=alias,
                    data={"rule": rule, "model": alias, "provider": model.provider},
                )
            )
            out.append(
                HopFinished(
                    run_id=run_id,
                    hop_id=state.next_hop_id(),
                    parent_id=step_id,
                    kind=HopKind.ATTEMPT,
                    name=alias,
                    provider=model.provider,
                    model=alias,
                    model_id=model.model,
                    attempt=1,
                    target_index=index,
                    status=HopStatus.SKIPPED,
                    reason=words,
                    error=f"refused by governance: {words}",
                    error_class=ErrorClass.GOVERNANCE,
                )
            )
        for d in pre:
            d.hop_id = step_id
            out.append(d)
        return out

    if error is not None:  # nothing may be called: the step hop says so and ends in error
        step_id = state.next_hop_id()
        t0 = time.monotonic()
        yield HopStarted(run_id=run_id, hop_id=step_id, parent_id=call.parent_id, kind=HopKind.STEP, name=step.name)
        for event in refusal_events(step_id):
            yield event
        yield HopFinished(
            run_id=run_id,
            hop_id=step_id,
            parent_id=call.parent_id,
            kind=HopKind.STEP,
            name=step.name,
            status=HopStatus.ERROR,
            latency_ms=(time.monotonic() - t0) * 1000.0,
            error=error,
            error_class=ErrorClass.GOVERNANCE,
        )
        call.result = StepResult(name=step.name, kind="generate", status="error", error=error, reason=error)
        return

    # the step keeps all its targets (indices stay the profile's, for per-target policies and `target_index`);
    # the runner is told which of them it may call
    allowed_idx = tuple(i for i in range(len(step.targets)) if i not in {r[0] for r in refused})
    sub = replace(
        call,
        step=step.model_copy(update=update) if update else step,
        ctx=sub_ctx,
        result=None,
        allowed_targets=allowed_idx if refused else call.allowed_targets,
    )
    first = True
    answered_by: str | None = None
    async for event in generate_step(sub):
        yield event
        if isinstance(event, HopFinished) and event.kind == HopKind.ATTEMPT and event.status == HopStatus.OK:
            answered_by = event.model
        if first:
            first = False
            refusals = refusal_events(event.hop_id if isinstance(event, HopStarted) else None)  # type: ignore[arg-type]
            for extra in refusals:
                yield extra
    call.result = sub.result
    if call.result is not None:  # what a gate needs to re-run this step: its input, and who answered
        call.result.data.setdefault("input", sub_input)
        call.result.data.setdefault("model", answered_by)
