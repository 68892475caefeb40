"""The `parallel` step executor: fan out to several targets (same prompt) or sub-steps at once, then merge.

Each child runs as its own task, its events put on one `asyncio.Queue` that this executor drains, so the
children's tokens interleave in the stream, each under its own hop id (the children's hops have the parallel
hop as parent, role "child"). Money and tokens go through the run's one `RunState`, so the costs add up exactly.

Each child has a cancel token of its own, and a user's cancel is forwarded to every child.
Merge: `first` — the first child to finish well (the others are cancelled then; what they spent still counts);
`all` — every good answer, each under a
`### label` heading; `judge` — the judge model scores each good answer against the rubric, the best wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from workbench.engine.cancel import CancelToken
from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import Decision, DecisionAction, Event, HopKind, HopStarted, HopStatus
from workbench.engine.subcall import Hop, model_step, run_model

_DONE = object()


def _children(call: StepCall, hop_id: str) -> list[tuple[str, StepCall]]:
    step = call.step
    out: list[tuple[str, StepCall]] = []
    if step.targets:
        for i, target in enumerate(step.targets):
            fields: dict[str, Any] = {
                k: getattr(step, k) for k in ("allow", "redact", "max_tokens", "max_cost_usd") if getattr(step, k)
            }
            from workbench.profiles.steps import GenerateStep

            child = GenerateStep(
                name=f"{step.name}.{i}.{target.model}",
                targets=[target],
                system=step.system,
                prompt=step.prompt,
                **fields,
            )
            sub = StepCall(
                engine=call.engine,
                state=call.state,
                ctx=replace(call.ctx),
                route="",
                step=child,
                path=call.path,
                cancel=call.cancel,
                parent_id=hop_id,
                extra_headers=call.extra_headers,
            )
            out.append((target.model, sub))
    else:
        for j, child in enumerate(step.steps or []):
            sub = StepCall(
                engine=call.engine,
                state=call.state,
                ctx=replace(call.ctx),
                route=call.route,
                step=child,
                path=(*call.path, "steps", j),
                cancel=call.cancel,
                parent_id=hop_id,
                extra_headers=call.extra_headers,
            )
            out.append((child.name, sub))
    return out


async def parallel_step(call: StepCall) -> AsyncIterator[Event]:
    from workbench.engine.executors import EXECUTORS
    from workbench.engine.gate import JUDGE_SYSTEM, parse_judge

    step = call.step
    hop = Hop(call, HopKind.PARALLEL)
    yield hop.started()
    children = _children(call, hop.id)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    finished_order: list[int] = []
    # Each child has a token of its own (a token tracks one waiting task); the run's token is forwarded to them.
    tokens = [CancelToken() for _ in children]
    for token, (_, sub) in zip(tokens, children, strict=True):
        sub.cancel = token

    async def run_child(index: int, sub: StepCall) -> None:
        try:
            async for event in EXECUTORS[sub.step.kind](sub):
                if isinstance(event, HopStarted) and event.parent_id == hop.id and event.role is None:
                    event.role = "child"
                await queue.put(event)
        except Exception as exc:  # noqa: BLE001 - a child's defect is that child's error, not the fan-out's crash
            sub.result = StepResult(name=sub.step.name, kind=sub.step.kind, status="error", error=repr(exc))
        finally:
            finished_order.append(index)
            await queue.put((_DONE, index))

    def cancel_children(reason: str, keep: int | None = None) -> None:
        for i, token in enumerate(tokens):
            if i != keep:
                token.cancel(reason)

    tasks = [asyncio.create_task(run_child(i, sub)) for i, (_, sub) in enumerate(children)]
    pending = len(tasks)
    winner: int | None = None
    try:
        while pending:
            if call.cancel.cancelled:  # set while this generator was suspended at a yield
                cancel_children(call.cancel.reason)
            try:
                with call.cancel.awaiting():
                    item = await queue.get()
            except asyncio.CancelledError:
                if not call.cancel.absorb():
                    raise
                cancel_children(call.cancel.reason)
                continue
            if isinstance(item, tuple) and item[0] is _DONE:
                pending -= 1
                result = children[item[1]][1].result
                if step.merge == "first" and winner is None and result is not None and result.status == "ok":
                    winner = item[1]
                    cancel_children(f"{children[winner][0]} answered first (merge: first)", keep=winner)
                continue
            yield item
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
    if call.cancel.cancelled:
        yield hop.finished(HopStatus.CANCELLED, reason=call.cancel.reason)
        call.result = StepResult(
            name=step.name, kind="parallel", status="cancelled", error=call.cancel.reason, reason=call.cancel.reason
        )
        return
    results = [(label, sub.result) for label, sub in children]
    good = [i for i in finished_order if (r := results[i][1]) is not None and r.status == "ok"]
    summary = [{"child": label, "status": r.status if r else "error"} for label, r in results]
    if not good:
        error = "every branch of the parallel step failed: " + "; ".join(
            f"{label}: {r.error if r else 'no result'}" for label, r in results
        )
        yield hop.finished(HopStatus.ERROR, error=error, data={"children": summary})
        call.result = StepResult(name=step.name, kind="parallel", status="error", error=error)
        return
    scores: dict[str, float] = {}
    if step.merge == "first":
        chosen = [good[0]]
        output = results[good[0]][1].output  # type: ignore[union-attr]
        words = f"first good answer: {results[good[0]][0]}"
    elif step.merge == "all":
        chosen = sorted(good)
        output = "\n\n".join(f"### {results[i][0]}\n\n{results[i][1].output}" for i in chosen)  # type: ignore[union-attr]
        words = f"all {len(chosen)} good answers, labelled"
    else:
        judge = step.judge
        best, best_score = good[0], -1.0
        for i in sorted(good):
            label, res = results[i]
            holder: list[StepResult] = []
            jstep = model_step(
                f"{step.name}.judge",
                judge.model,
                system=JUDGE_SYSTEM.format(rubric=judge.rubric),
                parent=step,
                max_output_tokens=80,
            )
            prompt = f"Request:\n{call.ctx.input}\n\nAnswer:\n{res.output}"  # type: ignore[union-attr]
            async for event in run_model(call, jstep, prompt, parent_id=hop.id, role="judge", holder=holder):
                yield event
            score = parse_judge(holder[0].output) if holder[0].status == "ok" else None
            scores[label] = score if score is not None else 0.0
            if scores[label] > best_score:
                best, best_score = i, scores[label]
        chosen = [best]
        output = results[best][1].output  # type: ignore[union-attr]
        words = f"the judge preferred {results[best][0]} (score {best_score:.2f})"
    data = {"merge": step.merge, "chosen": [results[i][0] for i in chosen], "children": summary}
    if scores:
        data["scores"] = scores
    yield Decision(run_id=call.state.run_id, hop_id=hop.id, action=DecisionAction.MERGE, reason=words, data=data)
    yield hop.finished(output=output, data=data)
    call.result = StepResult(name=step.name, kind="parallel", output=output, data=data)
