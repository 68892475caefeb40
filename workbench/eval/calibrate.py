"""Calibrating a strong/weak router's threshold on a dataset (`workbench tune --calibrate`).

Each case gets the difficulty score the engine's router would give it: the `features` scorer is the engine's own
`route_step.difficulty` (the same function, not a copy); the `classifier` scorer needs a model call, so the cases
are run through the engine on the route and the score is read from that step's `branch` decision.

The router sends a case to `strong` when `score >= threshold`. For a wanted strong share `s` of `n` scored cases,
`k = round(s * n)` cases should go strong; the threshold is the k-th highest score — the (1 - s) empirical
quantile, taken as a value that occurs in the data so that exactly the top k are at or above it. Ties: cases with
the same score always go the same way, so when the k-th and (k+1)-th highest scores are equal the share cannot be
met exactly; the threshold is then the tied score or the next higher distinct score, whichever share is closer to
the wanted one (the tied score when both are as close), and `ties` says how many cases share the boundary score.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.engine.route_step import difficulty
from workbench.errors import WorkbenchError
from workbench.eval.dataset import Case

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile

#: the end-of-line comment a calibration leaves on the threshold's line starts with this
NOTE_PREFIX = "calibrated by workbench tune"


@dataclass
class Calibration:
    """The chosen threshold and how the dataset splits at it."""

    threshold: float
    wanted_share: float
    share: float  # the strong share the threshold gives on this dataset
    strong: int  # cases at or above the threshold
    scored: int  # cases with a score
    ties: int  # cases sharing the boundary score (0 when the boundary is clean)
    note: str  # how ties or edges were handled, in words ("" when exact)
    scores: list[tuple[str, float | None]] = field(default_factory=list)  # (case id, score) in dataset order

    def summary(self) -> dict[str, float]:
        vals = sorted(s for _, s in self.scores if s is not None)
        if not vals:
            return {}
        q = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else [vals[0]] * 3
        return {
            "min": vals[0],
            "p25": round(q[0], 3),
            "median": round(q[1], 3),
            "p75": round(q[2], 3),
            "max": vals[-1],
            "mean": round(statistics.fmean(vals), 3),
        }


def strong_weak_step(route: Any, route_name: str, param: str | None) -> tuple[tuple[str | int, ...], Any]:
    """(path under `steps`, step) of the route's strong/weak routing step; `param` picks one when there are several
    (`steps.NAME_OR_INDEX...` under the route, optionally ending in `.strong_weak.threshold`)."""
    found = [(p, s) for p, s in route.all_steps() if getattr(s, "kind", None) == "route" and s.strong_weak is not None]
    if not found:
        kinds = ", ".join(f"{s.name} ({s.kind})" for _, s in route.all_steps()) or "none"
        raise WorkbenchError(
            f"--calibrate: route {route_name!r} has no routing step with `strong_weak`",
            hint=f"its steps: {kinds}; --calibrate sets a strong/weak threshold",
        )
    if param is None:
        if len(found) > 1:
            names = ", ".join(f"steps.{'.'.join(map(str, p))}" for p, _ in found)
            raise WorkbenchError(
                f"--calibrate: route {route_name!r} has {len(found)} strong/weak steps; say which with --param",
                hint=f"one of: {names}",
            )
        return found[0]
    parts = param.split(".")
    if parts[:2] == ["routes", route_name]:
        parts = parts[2:]
    if parts[-2:] == ["strong_weak", "threshold"]:
        parts = parts[:-2]
    for path, step in found:
        full = ["steps", *map(str, path)]
        named = [*full[:-1], step.name]
        if parts in (full, named):
            return path, step
    raise WorkbenchError(
        f"--param {param!r}: not a strong/weak step of route {route_name!r}",
        hint="strong/weak steps: " + ", ".join(f"steps.{'.'.join(map(str, p))} ({s.name})" for p, s in found),
    )


def feature_scores(cases: list[Case]) -> list[tuple[str, float | None]]:
    """The engine's own feature score of each case's input (what the router scores: the run's input)."""
    return [(c.id, difficulty(c.input)[0]) for c in cases]


async def engine_scores(
    loaded: LoadedProfile, cases: list[Case], route: str, step_name: str, *, concurrency: int = 10
) -> list[tuple[str, float | None]]:
    """Run each case through the engine on `route` and read the score of `step_name`'s branch decision (None when
    the case never reached that step)."""
    from workbench.engine import Decision, Engine, HopStarted

    sem = asyncio.Semaphore(concurrency)
    async with Engine(loaded) as engine:

        async def one(case: Case) -> tuple[str, float | None]:
            async with sem:
                route_hops: set[str] = set()
                score: float | None = None
                async for ev in engine.run(case.input, route=route, metadata=case.metadata, history=case.history):
                    if isinstance(ev, HopStarted) and ev.kind == "route" and ev.name == step_name:
                        route_hops.add(ev.hop_id)
                    elif isinstance(ev, Decision) and ev.action == "branch" and ev.hop_id in route_hops:
                        value = (ev.data or {}).get("score")
                        score = float(value) if value is not None else None
                return case.id, score

        return list(await asyncio.gather(*(one(c) for c in cases)))


def choose_threshold(scores: list[tuple[str, float | None]], share: float) -> Calibration:
    """The threshold sending `share` of the scored cases to `strong` (see the module docstring for ties)."""
    if not 0.0 <= share <= 1.0:
        raise WorkbenchError(f"--strong-share {share}: must be between 0 and 1")
    vals = sorted((s for _, s in scores if s is not None), reverse=True)
    n = len(vals)
    if n == 0:
        raise WorkbenchError("--calibrate: no case reached the strong/weak step, so there is nothing to calibrate on")
    k = math.floor(share * n + 0.5)

    def at(t: float) -> int:
        return sum(1 for v in vals if v >= t)

    note = ""
    ties = 0
    if k == 0:
        threshold = round(min(vals[0] + 0.001, 1.0), 3)
        if at(threshold) > 0:
            note = f"{at(threshold)} case(s) score 1.0, the highest threshold: they go strong whatever the threshold"
    else:
        threshold = vals[k - 1]
        got = at(threshold)
        if got > k:  # the boundary score is shared by cases on both sides of the wanted split
            ties = sum(1 for v in vals if v == threshold)
            higher = [v for v in vals if v > threshold]
            if higher:
                alt = min(higher)
                alt_got = at(alt)
                if abs(alt_got - k) < abs(got - k):
                    threshold, got = alt, alt_got
            note = (
                f"{ties} cases score exactly {vals[k - 1]}: they go the same way, so {k} of {n} cannot be met exactly;"
                f" chose the threshold whose share is closest ({got} of {n})"
            )
    strong = at(threshold)
    return Calibration(
        threshold=threshold,
        wanted_share=share,
        share=strong / n,
        strong=strong,
        scored=n,
        ties=ties,
        note=note,
        scores=scores,
    )


def apply_threshold(profile_path: Path, route: str, step_path: tuple[str | int, ...], value: float, note: str) -> str:
    """Write the threshold into the profile file with the profile editor (comments kept, validated), with `# note`
    at the end of its line. Returns what was done, in words."""
    from workbench.profiles.edit import ProfileEditor

    editor = ProfileEditor.open(profile_path)
    path = ("routes", route, "steps", *step_path, "strong_weak", "threshold")
    editor.set(path, value)
    noted = editor.note(path, note, replace_prefix=NOTE_PREFIX)
    editor.save()
    where = ".".join(map(str, path))
    if noted:
        return f"wrote {where} = {value} into {profile_path} (# {note})"
    return f"wrote {where} = {value} into {profile_path}; its line already has a comment, so not noted there: {note}"
