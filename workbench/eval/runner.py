"""Running an eval: every case through every route (and every repeat), at most `concurrency` runs at once.

One engine serves all routes (one simulator, pooled connections). Each run's events go to `writer.submit` (the
store's EventWriter) as they come, so every run of an eval is saved like any other run. Spend is counted as runs
finish; once it reaches `max_cost_usd` no new run starts, the runs in flight finish, and the result says the eval
was stopped and how much was done. A judge check asks `judge_model` (a model alias of the profile) through a
one-step route added in memory; its cost is counted as judge spend, not the route's.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from workbench.eval.checks import CheckResult, Observation, score
from workbench.eval.dataset import Case

JUDGE_ROUTE = "__workbench_judge__"


@dataclass
class RunOutcome:
    route: str
    case_id: str
    rep: int
    run_id: str = ""
    status: str = "skipped"
    output: str = ""
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    cost: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    fallback: bool = False
    passed: bool = False
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None
    judge_cost: Decimal = Decimal(0)
    cached: bool = False  # reused from `--cache`: latency and cost are the original run's

    def cache_data(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "output": self.output,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "cost": str(self.cost),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "fallback": self.fallback,
            "error": self.error,
        }

    def from_cache(self, data: dict[str, Any]) -> None:
        for k, v in data.items():
            setattr(self, k, Decimal(v) if k == "cost" else v)
        self.cached = True


def cache_key(profile_sha: str, route: str, case: Case, rep: int) -> str:
    """The exact request: profile text (by hash), route, input, history, metadata, and which repeat it is."""
    import hashlib
    import json

    blob = json.dumps([profile_sha, route, case.input, case.history, case.metadata, rep], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class EvalResult:
    routes: list[str]
    cases: list[Case]
    repeat: int
    outcomes: list[RunOutcome]
    stopped: str | None = None  # why it stopped early (cost cap, cancelled), else None
    wall_s: float = 0.0
    spent: Decimal = Decimal(0)
    judge_spent: Decimal = Decimal(0)
    # (route a, route b) -> per case "a" | "b" | "tie": the judge's preference, asked in both orders
    preferences: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)


Progress = Callable[[RunOutcome], None]


def _with_judge(loaded: Any, judge_model: str) -> Any:
    from workbench.profiles.models import Route
    from workbench.profiles.steps import GenerateStep

    profile = loaded.profile
    step = GenerateStep(
        name="judge",
        targets=[judge_model],  # type: ignore[list-item]
        system="You grade answers. Reply with a score between 0 and 1 on the first line, then one sentence why.",
        history=False,
    )
    routes = {**profile.routes, JUDGE_ROUTE: Route(steps=[step])}  # type: ignore[list-item]
    return replace(loaded, profile=profile.model_copy(update={"routes": routes}))


_SCORE = re.compile(r"(?<![\d.])(1(?:\.0+)?|0(?:\.\d+)?|\.\d+)(?![\d.])")


def parse_score(text: str) -> float | None:
    """The first number in 0..1 in a judge's answer (`0.8`, `1`, `.75`), else None."""
    m = _SCORE.search(text or "")
    return float(m.group(1)) if m else None


def _worth_a_line(ev: Any) -> bool:
    """A `progress` event an eval shows: one run indexing a corpus (and a rebuilt cache), not the runs of the
    same eval that wait for it."""
    return bool(ev.phase in ("indexing", "note") or (ev.phase == "done" and ev.total))


async def run_eval(
    loaded: Any,
    cases: list[Case],
    routes: list[str],
    *,
    repeat: int = 1,
    concurrency: int = 10,
    max_cost_usd: Decimal | None = None,
    writer: Any = None,
    judge_model: str | None = None,
    on_progress: Progress | None = None,
    cache: dict[str, dict[str, Any]] | None = None,
    pairwise: bool = False,
    engine_factory: Callable[[Any], Any] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> EvalResult:
    """`engine_factory(loaded)` builds the async-context engine the runs go through (default: `Engine`; the TUI
    passes its own factory, so its tests can pin measured durations as they do for every other screen).
    `on_note(line)` hears slow work worth a line on screen (a retrieve step indexing its corpus)."""
    from workbench.engine import Engine
    from workbench.engine.events import Decision, RunFinished

    needs_judge = any(c.type == "judge" for case in cases for c in case.checks)
    if (needs_judge or pairwise) and judge_model is not None:
        loaded = _with_judge(loaded, judge_model)
    sem = asyncio.Semaphore(max(1, concurrency))
    state: dict[str, Any] = {"spent": Decimal(0), "judge": Decimal(0), "stopped": None}
    jobs = [(route, case, rep) for rep in range(repeat) for case in cases for route in routes]
    outcomes: list[RunOutcome] = [RunOutcome(r, c.id, rep) for r, c, rep in jobs]
    started = time.monotonic()

    def capped() -> bool:
        if max_cost_usd is not None and state["spent"] >= max_cost_usd:  # type: ignore[operator]
            state["stopped"] = state["stopped"] or f"cost cap ${max_cost_usd} reached"
            return True
        return False

    async with (engine_factory or Engine)(loaded) as engine:
        check_route = getattr(engine, "check_route", None)
        for route in routes:
            if check_route is not None:
                check_route(route)

        async def one(i: int, route: str, case: Case) -> None:
            async with sem:
                if capped():
                    return
                out = outcomes[i]
                key = cache_key(loaded.sha256, route, case, out.rep) if cache is not None else ""
                if cache is not None and key in cache:
                    out.from_cache(cache[key])
                    await _score(out, case)
                    if on_progress is not None:
                        on_progress(out)
                    return
                async for ev in engine.run(
                    case.input, route=route, metadata=case.metadata or None, history=case.history or None
                ):
                    if writer is not None:
                        writer.submit(ev)
                    if isinstance(ev, Decision) and ev.action == "fallback":
                        out.fallback = True
                    elif ev.type == "progress" and on_note is not None and _worth_a_line(ev):
                        on_note(ev.message)  # type: ignore[attr-defined]
                    elif isinstance(ev, RunFinished):
                        out.run_id, out.status, out.output = ev.run_id, str(ev.status), ev.output
                        out.latency_ms, out.ttft_ms, out.cost = ev.latency_ms, ev.ttft_ms, ev.cost_usd
                        out.input_tokens, out.output_tokens, out.error = ev.input_tokens, ev.output_tokens, ev.error
                state["spent"] += out.cost  # type: ignore[operator]
                if cache is not None and out.status in ("ok", "degraded"):
                    cache[key] = out.cache_data()
                await _score(out, case)
            if on_progress is not None:
                on_progress(out)

        async def _score(out: RunOutcome, case: Case) -> None:
            judge_score = None
            if needs_judge and judge_model is not None and out.status != "error":
                judge_score, out.judge_cost = await _judge(engine, writer, case, out.output)
                state["judge"] += out.judge_cost  # type: ignore[operator]
            obs = Observation(out.output, out.output_tokens, out.cost, out.latency_ms, out.status, judge_score)
            verdict = score(case.checks, obs)
            out.passed, out.checks = verdict.passed, verdict.results

        await asyncio.gather(*(one(i, r, c) for i, (r, c, _) in enumerate(jobs)))
        preferences: dict[tuple[str, str], dict[str, str]] = {}
        if pairwise and judge_model is not None and not state["stopped"]:
            first = {(o.route, o.case_id): o for o in outcomes if o.rep == 0 and o.status in ("ok", "degraded")}

            async def prefer(a: str, b: str, case: Case) -> tuple[str, str, str, str]:
                oa, ob = first.get((a, case.id)), first.get((b, case.id))
                if oa is None or ob is None:
                    return a, b, case.id, "tie"
                async with sem:
                    p1, c1 = await _compare(engine, writer, case, oa.output, ob.output)
                    p2, c2 = await _compare(engine, writer, case, ob.output, oa.output)  # positions swapped
                state["judge"] += c1 + c2
                # consistent in both orders, or it is a tie (position bias cancels out)
                won = "a" if (p1, p2) == ("A", "B") else "b" if (p1, p2) == ("B", "A") else "tie"
                return a, b, case.id, won

            pairs = [(a, b) for i, a in enumerate(routes) for b in routes[i + 1 :]]
            for a, b, cid, won in await asyncio.gather(*(prefer(a, b, c) for a, b in pairs for c in cases)):
                preferences.setdefault((a, b), {})[cid] = won
    return EvalResult(
        routes=routes,
        cases=cases,
        repeat=repeat,
        outcomes=outcomes,
        stopped=state["stopped"],  # type: ignore[arg-type]
        wall_s=time.monotonic() - started,
        spent=state["spent"],  # type: ignore[arg-type]
        judge_spent=state["judge"],
        preferences=preferences,
    )


async def _judge(engine: Any, writer: Any, case: Case, answer: str) -> tuple[float | None, Decimal]:
    from workbench.engine.events import RunFinished

    rubric = "; ".join(str(c.value) for c in case.checks if c.type == "judge")
    prompt = f"Rubric: {rubric}\n\nQuestion: {case.input}\n\nAnswer to grade:\n{answer}\n\nScore (0 to 1):"
    text, cost = "", Decimal(0)
    async for ev in engine.run(prompt, route=JUDGE_ROUTE, metadata={"eval_role": "judge"}):
        if writer is not None:
            writer.submit(ev)
        if isinstance(ev, RunFinished):
            text, cost = ev.output, ev.cost_usd
    return parse_score(text), cost


_CHOICE = re.compile(r"^\W*(A|B)\b")


async def _compare(engine: Any, writer: Any, case: Case, first: str, second: str) -> tuple[str | None, Decimal]:
    """Ask the judge which of two answers is better; ("A" | "B" | None, cost)."""
    from workbench.engine.events import RunFinished

    prompt = (
        f"Question: {case.input}\n\nAnswer A:\n{first}\n\nAnswer B:\n{second}\n\n"
        "Which answer is better? Reply with the single letter A or B on the first line."
    )
    text, cost = "", Decimal(0)
    async for ev in engine.run(prompt, route=JUDGE_ROUTE, metadata={"eval_role": "pairwise-judge"}):
        if writer is not None:
            writer.submit(ev)
        if isinstance(ev, RunFinished):
            text, cost = ev.output, ev.cost_usd
    m = _CHOICE.match(text or "")
    return (m.group(1) if m else None), cost
