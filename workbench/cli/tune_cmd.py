"""`workbench tune --profile F --dataset D --route R --param PATH --values v1,v2,… [--apply VALUE]`.

Sweeps one parameter of a route (PATH under the route, e.g. `steps.0.temperature`, `steps.0.targets`,
`timeouts.total`): evaluates the route on the dataset for every value, prints cost / pass rate / latency per value
with the Pareto front marked and a terminal plot. `--apply VALUE` then writes that value into the profile file,
comments and order kept, with a comment naming the sweep's eval id and the value's numbers.

`workbench tune --calibrate --strong-share S [--param PATH] [--apply]` instead sets a strong/weak router's threshold
so that share S of the dataset goes to the strong branch (workbench/eval/calibrate.py says how, ties included).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench.errors import WorkbenchError
from workbench.locations import default_profile_path

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile


@click.command("tune")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None, help="profile file")
@click.option("--dataset", "dataset_path", type=click.Path(path_type=Path), required=True, help="dataset file")
@click.option("--route", required=True, help="route to tune")
@click.option("--param", "param", default=None, help="path under the route, e.g. steps.0.temperature")
@click.option("--values", "values", default=None, help="values to try: 0.2,0.7 (use ; when values hold commas)")
@click.option(
    "--apply",
    "apply",
    is_flag=False,
    flag_value="",
    default=None,
    help="write this value into the profile file after the sweep (with --calibrate: no value, the threshold found)",
)
@click.option("--calibrate", is_flag=True, help="set a strong/weak threshold so --strong-share goes to strong")
@click.option(
    "--strong-share", type=click.FloatRange(0, 1), default=None, help="with --calibrate: the share for strong"
)
@click.option("--repeat", default=1, type=click.IntRange(1, 100), show_default=True)
@click.option("--concurrency", default=10, type=click.IntRange(1, 1000), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the points as JSON")
@click.option("--no-plot", is_flag=True, help="skip the terminal plot")
@click.option("--latency", is_flag=True, help="p50 latency counts for the Pareto front too")
def tune(
    profile_path: Path | None,
    dataset_path: Path,
    route: str,
    param: str | None,
    values: str | None,
    apply: str | None,
    calibrate: bool,
    strong_share: float | None,
    repeat: int,
    concurrency: int,
    as_json: bool,
    no_plot: bool,
    latency: bool,
) -> None:
    """Sweep one route parameter over a dataset; mark the Pareto front; optionally write the chosen value."""
    from workbench.engine.run import new_run_id
    from workbench.eval.dataset import load_dataset
    from workbench.eval.tune import apply_value, param_path, parse_values, plot, sweep, variant

    loaded = load_profile_checked(profile_path, route)
    if calibrate:
        if values is not None:
            raise WorkbenchError("--values: not used with --calibrate (it finds the threshold itself)")
        if strong_share is None:
            raise WorkbenchError("--calibrate needs --strong-share, e.g. --strong-share 0.3")
        if apply:
            raise WorkbenchError(f"--apply {apply!r}: with --calibrate, --apply takes no value")
        run_calibrate(loaded, dataset_path, route, param, strong_share, apply is not None, concurrency, as_json)
        return
    if strong_share is not None:
        raise WorkbenchError("--strong-share: only used with --calibrate")
    if param is None or values is None:
        raise WorkbenchError("tune needs --param and --values (or --calibrate --strong-share S)")
    if apply == "":
        raise WorkbenchError("--apply needs the VALUE to write after a sweep")
    path = param_path(route, param)
    vals = parse_values(values)
    chosen: Any = None
    if apply is not None:
        chosen = parse_values(apply, single=True)[0]
        if chosen not in vals:
            vals.append(chosen)
    for v in vals:
        variant(loaded, path, v)  # every value is valid before anything runs
    dataset = load_dataset(dataset_path)
    sweep_id = new_run_id()
    points = asyncio.run(
        sweep(loaded, dataset.cases, route, path, vals, repeat=repeat, concurrency=concurrency, latency=latency)
    )
    if as_json:
        sys.stdout.write(json.dumps({"sweep_id": sweep_id, "param": param, "points": points}, default=str) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"tune {route}.{param} on {dataset_path} (sweep {sweep_id})", title_justify="left")
        for c in ("value", "pass rate [95% CI]", "$/1k runs", "p50/p95 ms", "fallback", "front"):
            t.add_column(c)
        for i, p in enumerate(points, 1):
            lo, hi = p["pass_rate_ci"]
            t.add_row(
                f"#{i} {json.dumps(p['value'])}",
                f"{(p['pass_rate'] or 0):.1%} [{lo:.1%}, {hi:.1%}]",
                p["cost_per_1k_runs_usd"],
                f"{p['latency_p50_ms'] or 0:.0f}/{p['latency_p95_ms'] or 0:.0f}",
                f"{(p['fallback_rate'] or 0):.0%}",
                "★" if p["front"] else "",
            )
        Console().print(t)
        if not no_plot:
            click.echo(plot(points, param))
    if chosen is not None:
        p = next(p for p in points if p["value"] == chosen)
        note = (
            f"tuned by workbench tune (sweep {sweep_id}, {dataset_path.name}): pass {(p['pass_rate'] or 0):.0%},"
            f" ${p['cost_per_1k_runs_usd']}/1k runs"
        )
        written = apply_value(loaded, path, chosen, note)
        click.echo(f"wrote {param} = {json.dumps(chosen)} into {written}", err=True)


def load_profile_checked(profile_path: Path | None, route: str) -> LoadedProfile:
    from workbench.profiles.load import load_profile

    loaded = load_profile(profile_path or default_profile_path())
    if route not in loaded.profile.routes:
        raise WorkbenchError(f"--route: unknown route {route!r}", hint=f"routes: {', '.join(loaded.profile.routes)}")
    return loaded


def run_calibrate(
    loaded: LoadedProfile,
    dataset_path: Path,
    route: str,
    param: str | None,
    share: float,
    apply: bool,
    concurrency: int,
    as_json: bool,
) -> None:
    """Score the dataset as the route's strong/weak step would, choose the threshold, print it, maybe write it."""
    from workbench.eval.calibrate import (
        NOTE_PREFIX,
        apply_threshold,
        choose_threshold,
        engine_scores,
        feature_scores,
        strong_weak_step,
    )
    from workbench.eval.dataset import load_dataset

    step_path, step = strong_weak_step(loaded.profile.routes[route], route, param)
    sw = step.strong_weak
    dataset = load_dataset(dataset_path)
    if sw.scorer == "classifier" and sw.model:
        scores = asyncio.run(engine_scores(loaded, dataset.cases, route, step.name, concurrency=concurrency))
    else:
        scores = feature_scores(dataset.cases)
    cal = choose_threshold(scores, share)
    where = ".".join(map(str, ("routes", route, "steps", *step_path, "strong_weak", "threshold")))
    unscored = [cid for cid, s in scores if s is None]
    if as_json:
        out = {
            "param": where,
            "scorer": sw.scorer,
            "current_threshold": sw.threshold,
            "threshold": cal.threshold,
            "wanted_share": cal.wanted_share,
            "share": cal.share,
            "strong": cal.strong,
            "scored": cal.scored,
            "ties": cal.ties,
            "note": cal.note,
            "summary": cal.summary(),
            "scores": [{"id": cid, "score": s} for cid, s in cal.scores],
        }
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"difficulty scores ({sw.scorer}) of {dataset_path.name} on {route}", title_justify="left")
        for c in ("case", "score", f"branch at {cal.threshold}"):
            t.add_column(c)
        for cid, s in sorted(cal.scores, key=lambda x: -1.0 if x[1] is None else x[1], reverse=True):
            side = "—" if s is None else (sw.strong if s >= cal.threshold else sw.weak)
            t.add_row(cid, "not reached" if s is None else f"{s:.3f}", side)
        Console().print(t)
        summ = cal.summary()
        click.echo("scores: " + ", ".join(f"{k} {v:.3f}" for k, v in summ.items()) + f" ({cal.scored} cases)")
        click.echo(
            f"threshold {cal.threshold} (now {sw.threshold}): {cal.strong} of {cal.scored} cases"
            f" ({cal.share:.1%}) go to {sw.strong}, wanted {cal.wanted_share:.1%}"
        )
        if cal.note:
            click.echo(f"ties: {cal.note}")
        if unscored:
            click.echo(f"{len(unscored)} case(s) never reached step {step.name!r}: {', '.join(unscored[:10])}")
    if apply:
        if loaded.path is None:
            raise WorkbenchError("--apply needs a profile file")
        note = (
            f"{NOTE_PREFIX} --calibrate on {dataset_path.name} ({dataset.sha256[:12]}):"
            f" {cal.strong}/{cal.scored} strong ({cal.share:.0%}, wanted {cal.wanted_share:.0%})"
        )
        click.echo(apply_threshold(loaded.path, route, step_path, cal.threshold, note), err=True)
