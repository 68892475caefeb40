"""`workbench tune --profile F --dataset D --route R --param PATH --values v1,v2,… [--apply VALUE]`.

Sweeps one parameter of a route (PATH under the route, e.g. `steps.0.temperature`, `steps.0.targets`,
`timeouts.total`): evaluates the route on the dataset for every value, prints cost / pass rate / latency per value
with the Pareto front marked and a terminal plot. `--apply VALUE` then writes that value into the profile file,
comments and order kept, with a comment naming the sweep's eval id and the value's numbers.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from workbench.errors import WorkbenchError
from workbench.locations import default_profile_path


@click.command("tune")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None, help="profile file")
@click.option("--dataset", "dataset_path", type=click.Path(path_type=Path), required=True, help="dataset file")
@click.option("--route", required=True, help="route to tune")
@click.option("--param", "param", required=True, help="path under the route, e.g. steps.0.temperature")
@click.option("--values", "values", required=True, help="values to try: 0.2,0.7 (use ; when values hold commas)")
@click.option("--apply", "apply", default=None, help="write this value into the profile file after the sweep")
@click.option("--repeat", default=1, type=click.IntRange(1, 100), show_default=True)
@click.option("--concurrency", default=10, type=click.IntRange(1, 1000), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the points as JSON")
@click.option("--no-plot", is_flag=True, help="skip the terminal plot")
@click.option("--latency", is_flag=True, help="p50 latency counts for the Pareto front too")
def tune(
    profile_path: Path | None,
    dataset_path: Path,
    route: str,
    param: str,
    values: str,
    apply: str | None,
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


def load_profile_checked(profile_path: Path | None, route: str) -> Any:
    from workbench.profiles.load import load_profile

    loaded = load_profile(profile_path or default_profile_path())
    if route not in loaded.profile.routes:
        raise WorkbenchError(f"--route: unknown route {route!r}", hint=f"routes: {', '.join(loaded.profile.routes)}")
    return loaded
