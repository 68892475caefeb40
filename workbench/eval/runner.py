"""Running an eval: every case through every route (and every repeat), at most `concurrency` runs at once.

One engine serves all routes (one simulator, pooled connections). Each run's events go to `writer.submit` (the
store's EventWriter) as they come, so every run of an eval is saved like any other run. Under `max_cost_usd`
each case holds its worst case against the cap before it starts (as a run holds each call's), and its real cost
replaces the hold when it ends; once the spend reaches the cap no new run starts, and the result says the eval
was stopped and how much was done: at least the cap was spent, and at most the cap plus one case. An `EvalStop`
(a signal) skips the runs not started and cancels those in flight, which end `cancelled` with their estimated
cost. A judge check asks `judge_model` (a model alias of the profile) through a one-step route added in memory;
its cost is counted as judge spend, not the route's (nor against the cap).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from workbench.eval.checks import CheckResult, Observation, score
from workbench.eval.dataset import Case

if TYPE_CHECKING:
    from workbench.engine.events import Progress as ProgressEvent
    from workbench.profiles.load import LoadedProfile

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
    stopped: str | None = None  # why it stopped early (cost cap, a signal), else None
    wall_s: float = 0.0
    spent: Decimal = Decimal(0)
    judge_spent: Decimal = Decimal(0)
    # (route a, route b) -> per case "a" | "b" | "tie": the judge's preference, asked in both orders
    preferences: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)


Progress = Callable[[RunOutcome], None]


class EvalStop:
    """Stops an eval gracefully (a signal, the user): no new run starts, and every run in flight is cancelled
    through its own CancelToken, so the engine closes it as `cancelled` with its estimated cost and the writer
    saves it, like `workbench run` on Ctrl-C. The eval's result then says it was stopped and why."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._tokens: set[Any] = set()

    def stop(self, reason: str = "cancelled by user") -> None:
        if self.reason is None:
            self.reason = reason
        for token in list(self._tokens):
            token.cancel(reason)

    def token(self) -> Any:
        """A CancelToken for one run (already cancelled if the eval was stopped); give it back with `done`."""
        from workbench.engine import CancelToken

        tok = CancelToken()
        if self.reason is not None:
            tok.cancel(self.reason)
        self._tokens.add(tok)
        return tok

    def done(self, token: Any) -> None:
        self._tokens.discard(token)


def _with_judge(loaded: LoadedProfile, judge_model: str) -> LoadedProfile:
    from workbench.profiles.models import Route
    from workbench.profiles.steps import GenerateStep

    profile = loaded.profile
    step = GenerateStep(
        name="judge",
        targets=[judge_model],
        system="You grade answers. Reply with a score between 0 and 1 on the first line, then one sentence why.",
        history=False,
    )
    routes = {**profile.routes, JUDGE_ROUTE: Route(steps=[step])}
    return replace(loaded, profile=profile.model_copy(update={"routes": routes}))


_SCORE = re.compile(r"(?<![\d.])(1(?:\.0+)?|0(?:\.\d+)?|\.\d+)(?![\d.])")


def parse_score(text: str) -> float | None:
    """The first number in 0..1 in a judge's answer (`0.8`, `1`, `.75`), else None."""
    m = _SCORE.search(text or "")
    return float(m.group(1)) if m else None


class _Tally(TypedDict):
    """What the eval's runs add up to while it runs (shared by its concurrent jobs)."""

    spent: Decimal
    judge: Decimal
    stopped: str | None


def _worth_a_line(ev: ProgressEvent) -> bool:
    """A `progress` event an eval shows: one run indexing a corpus (and a rebuilt cache), not the runs of the
    same eval that wait for it."""
    return bool(ev.phase in ("indexing", "note") or (ev.phase == "done" and ev.total))


async def run_eval(
    loaded: LoadedProfile,
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
    stop: EvalStop | None = None,
    on_note: Callable[[str], None] | None = None,
) -> EvalResult:
    """`engine_factory(loaded)` builds the async-context engine the runs go through (default: `Engine`; the TUI
    passes its own factory, so its tests can pin measured durations as they do for every other screen).
    `stop.stop(reason)` ends the eval early: runs not started are skipped, runs in flight end `cancelled`.
    `on_note(line)` hears slow work worth a line on screen (a retrieve step indexing its corpus)."""
    from workbench.engine import Engine
    from workbench.engine.events import Decision, RunFinished
    from workbench.engine.events import Progress as ProgressEvent

    needs_judge = any(c.type == "judge" for case in cases for c in case.checks)
    if (needs_judge or pairwise) and judge_model is not None:
        loaded = _with_judge(loaded, judge_model)
    stop = stop or EvalStop()
    sem = asyncio.Semaphore(max(1, concurrency))
    state: _Tally = {"spent": Decimal(0), "judge": Decimal(0), "stopped": None}
    jobs = [(route, case, rep) for rep in range(repeat) for case in cases for route in routes]
    outcomes: list[RunOutcome] = [RunOutcome(r, c.id, rep) for r, c, rep in jobs]
    started = time.monotonic()

    # The cost cap, reserved as a run reserves against its own: before a case starts, its worst case
    # (engine.reserve.run_worst_case) is held against the cap; when it ends, its real cost replaces the hold. A case
    # starts only while spent + held is under the cap, and otherwise waits for a case in flight to end; with none
    # in flight the cap is reached. So the eval stops having spent at least the cap, and (the estimates holding)
    # at most the cap plus the one case that crossed it, at any concurrency.
    budget = asyncio.Condition()
    held: dict[str, Any] = {"usd": Decimal(0), "cases": 0}

    async def admit(need: Decimal) -> bool:
        async with budget:
            while True:
                if stop.reason is not None or state["stopped"]:
                    return False
                if max_cost_usd is None or state["spent"] + held["usd"] < max_cost_usd:
                    held["usd"] += need
                    held["cases"] += 1
                    return True
                if not held["cases"]:
                    state["stopped"] = f"cost cap ${max_cost_usd} reached"
                    budget.notify_all()
                    return False
                await budget.wait()

    async def settle(need: Decimal, cost: Decimal) -> None:
        async with budget:  # the real cost replaces the hold at once: never both counted, never neither
            state["spent"] += cost
            held["usd"] -= need
            held["cases"] -= 1
            budget.notify_all()

    def worst(route: str, case: Case) -> Decimal:
        if max_cost_usd is None:
            return Decimal(0)
        from workbench.engine.reserve import run_worst_case

        return run_worst_case(loaded.profile, route, case.input, case.history)

    async with (engine_factory or Engine)(loaded) as engine:
        check_route = getattr(engine, "check_route", None)
        for route in routes:
            if check_route is not None:
                check_route(route)

        async def one(i: int, route: str, case: Case) -> None:
            async with sem:
                out = outcomes[i]
                key = cache_key(loaded.sha256, route, case, out.rep) if cache is not None else ""
                if cache is not None and key in cache:
                    if not await admit(Decimal(0)):
                        return
                    await settle(Decimal(0), Decimal(0))  # reused: nothing is spent again
                    out.from_cache(cache[key])
                    await _score(out, case)
                    if on_progress is not None:
                        on_progress(out)
                    return
                need = worst(route, case)
                if not await admit(need):
                    return
                token = stop.token()
                try:
                    async for ev in engine.run(
                        case.input,
                        route=route,
                        metadata=case.metadata or None,
                        history=case.history or None,
                        cancel=token,
                    ):
                        if writer is not None:
                            writer.submit(ev)
                        if isinstance(ev, Decision) and ev.action == "fallback":
                            out.fallback = True
                        elif isinstance(ev, ProgressEvent) and on_note is not None and _worth_a_line(ev):
                            on_note(ev.message)
                        elif isinstance(ev, RunFinished):
                            out.run_id, out.status, out.output = ev.run_id, str(ev.status), ev.output
                            out.latency_ms, out.ttft_ms, out.cost = ev.latency_ms, ev.ttft_ms, ev.cost_usd
                            out.input_tokens, out.output_tokens = ev.input_tokens, ev.output_tokens
                            out.error = ev.error
                finally:
                    stop.done(token)
                    await settle(need, out.cost)
                if cache is not None and out.status in ("ok", "degraded"):
                    cache[key] = out.cache_data()
                await _score(out, case)
            if on_progress is not None:
                on_progress(out)

        async def _score(out: RunOutcome, case: Case) -> None:
            judge_score = None
            if out.status == "cancelled":  # stopped before it finished: not an answer to grade
                out.passed, out.checks = False, [CheckResult("run finished", False, "the run was cancelled")]
                return
            if needs_judge and judge_model is not None and out.status != "error":
                token = stop.token()
                try:
                    judge_score, out.judge_cost = await _judge(engine, writer, case, out.output, token)
                finally:
                    stop.done(token)
                state["judge"] += out.judge_cost
            obs = Observation(out.output, out.output_tokens, out.cost, out.latency_ms, out.status, judge_score)
            verdict = score(case.checks, obs)
            out.passed, out.checks = verdict.passed, verdict.results

        await asyncio.gather(*(one(i, r, c) for i, (r, c, _) in enumerate(jobs)))
        preferences: dict[tuple[str, str], dict[str, str]] = {}
        if pairwise and judge_model is not None and not state["stopped"] and stop.reason is None:
            first = {(o.route, o.case_id): o for o in outcomes if o.rep == 0 and o.status in ("ok", "degraded")}

            async def prefer(a: str, b: str, case: Case) -> tuple[str, str, str, str]:
                oa, ob = first.get((a, case.id)), first.get((b, case.id))
                if oa is None or ob is None:
                    return a, b, case.id, "tie"
                async with sem:
                    if stop.reason is not None:
                        return a, b, case.id, "tie"
                    token = stop.token()
                    p2, c2 = None, Decimal(0)
                    try:
                        p1, c1 = await _compare(engine, writer, case, oa.output, ob.output, token)
                        if stop.reason is None:
                            p2, c2 = await _compare(engine, writer, case, ob.output, oa.output, token)  # swapped
                    finally:
                        stop.done(token)
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
        stopped=stop.reason or state["stopped"],
        wall_s=time.monotonic() - started,
        spent=state["spent"],
        judge_spent=state["judge"],
        preferences=preferences,
    )


async def _judge(engine: Any, writer: Any, case: Case, answer: str, cancel: Any = None) -> tuple[float | None, Decimal]:
    from workbench.engine.events import RunFinished

    rubric = "; ".join(str(c.value) for c in case.checks if c.type == "judge")
    prompt = f"Rubric: {rubric}\n\nQuestion: {case.input}\n\nAnswer to grade:\n{answer}\n\nScore (0 to 1):"
    text, cost = "", Decimal(0)
    async for ev in engine.run(prompt, route=JUDGE_ROUTE, metadata={"eval_role": "judge"}, cancel=cancel):
        if writer is not None:
            writer.submit(ev)
        if isinstance(ev, RunFinished):
            text, cost = ev.output, ev.cost_usd
    return parse_score(text), cost


_CHOICE = re.compile(r"^\W*(A|B)\b")


async def _compare(
    engine: Any, writer: Any, case: Case, first: str, second: str, cancel: Any = None
) -> tuple[str | None, Decimal]:
    """Ask the judge which of two answers is better; ("A" | "B" | None, cost)."""
    from workbench.engine.events import RunFinished

    prompt = (
        f"Question: {case.input}\n\nAnswer A:\n{first}\n\nAnswer B:\n{second}\n\n"
        "Which answer is better? Reply with the single letter A or B on the first line."
    )
    text, cost = "", Decimal(0)
    async for ev in engine.run(prompt, route=JUDGE_ROUTE, metadata={"eval_role": "pairwise-judge"}, cancel=cancel):
        if writer is not None:
            writer.submit(ev)
        if isinstance(ev, RunFinished):
            text, cost = ev.output, ev.cost_usd
    m = _CHOICE.match(text or "")
    return (m.group(1) if m else None), cost
