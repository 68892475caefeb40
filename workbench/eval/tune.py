"""Sweeping one parameter of a route: each value is written into a copy of the profile text (comments kept), the
route is evaluated on the dataset, and cost / pass rate / latency per value are compared with the Pareto front
marked (a value is on the front when no other is at least as good on pass rate and cost, and on p50 latency
with `--latency`, and better on one; latency is off by default: on a loaded machine its noise moves the front).

`apply_value` writes a chosen value into the profile file (comments and order kept, validated first) with an end
of line comment naming the eval it came from.
"""

from __future__ import annotations

import os
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from workbench.errors import WorkbenchError
from workbench.eval.dataset import Case
from workbench.eval.report import summarize
from workbench.eval.runner import run_eval

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile


def param_path(route: str, dotted: str) -> tuple[str | int, ...]:
    """`steps.0.temperature` under route R -> ("routes", R, "steps", 0, "temperature")."""
    parts: list[str | int] = []
    for p in dotted.split("."):
        if not p:
            raise WorkbenchError(f"--param {dotted!r}: empty part in the path")
        parts.append(int(p) if p.isdigit() else p)
    return ("routes", route, *parts)


def parse_values(text: str, *, single: bool = False) -> list[Any]:
    """Values as YAML scalars or flow lists: `0.2,0.5` or `[swift, steady];[steady, swift]` (`;` when a value
    holds commas). `single`: the whole text is one value."""
    raw = [text] if single else text.split(";") if ";" in text else text.split(",")
    yaml = YAML(typ="safe")
    out = []
    for item in raw:
        item = item.strip()
        if not item:
            continue
        try:
            out.append(yaml.load(item))
        except Exception:  # noqa: BLE001 - a value that does not read (syntax, bad date, odd tag) is bad input
            raise WorkbenchError(f"--values: {item!r} is not a YAML value") from None
    if not out:
        raise WorkbenchError("--values: no values given")
    return out


def variant(loaded: LoadedProfile, path: tuple[str | int, ...], value: Any) -> LoadedProfile:
    """The profile with `value` at `path`, validated (a ProfileError names the value if it is invalid)."""
    from workbench.profiles.load import loads_profile, save_profile

    text = save_profile(replace(loaded, path=None), {path: value})
    return loads_profile(text, loaded.path)


def pareto(points: list[dict[str, Any]], *, latency: bool = True) -> None:
    """Mark `front: True` on points not dominated on (pass rate ↑, cost ↓[, p50 latency ↓])."""

    def key(p: dict[str, Any]) -> tuple[float, ...]:
        base = (-(p["pass_rate"] or 0.0), float(p["cost_mean_usd"]))
        return (*base, p["latency_p50_ms"] or 0.0) if latency else base

    for p in points:
        kp = key(p)
        p["front"] = not any(
            all(a <= b for a, b in zip(key(q), kp, strict=True)) and key(q) != kp for q in points if q is not p
        )


async def sweep(
    loaded: LoadedProfile,
    cases: list[Case],
    route: str,
    path: tuple[str | int, ...],
    values: list[Any],
    *,
    repeat: int = 1,
    concurrency: int = 10,
    writer: Any = None,
    latency: bool = False,
) -> list[dict[str, Any]]:
    points = []
    for value in values:
        prof = variant(loaded, path, value)
        result = await run_eval(prof, cases, [route], repeat=repeat, concurrency=concurrency, writer=writer)
        s = summarize(result)["routes"][route]
        points.append({"value": value, **s})
    pareto(points, latency=latency)
    return points


def plot(points: list[dict[str, Any]], param: str) -> str:
    """A terminal scatter plot (plotext) of pass rate against mean cost, the Pareto front marked."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(72, 18)
    for front in (True, False):
        sel = [p for p in points if p["front"] == front]
        if sel:
            plt.scatter(
                [float(p["cost_mean_usd"]) * 1000 for p in sel],
                [100 * (p["pass_rate"] or 0) for p in sel],
                marker="●" if front else "○",
                label="Pareto front" if front else "dominated",
            )
    for i, p in enumerate(points, 1):
        plt.text(f"#{i}", float(p["cost_mean_usd"]) * 1000, 100 * (p["pass_rate"] or 0))
    plt.title(f"{param}: pass rate vs cost")
    plt.xlabel("cost per 1k runs (USD)")
    plt.ylabel("pass %")
    plt.theme("clear")
    return str(plt.build())


def apply_value(loaded: LoadedProfile, path: tuple[str | int, ...], value: Any, note: str) -> Path:
    """Write `value` at `path` into the profile file, keeping comments, with `# note` at the end of its line."""
    from workbench.profiles.load import loads_profile, save_profile

    if loaded.path is None:
        raise WorkbenchError("--apply needs a profile file")
    current = loaded.path.read_text(encoding="utf-8")
    if current != loaded.text:
        raise WorkbenchError(f"{loaded.path} changed on disk since it was loaded; not written", hint="run tune again")
    text = save_profile(replace(loaded, path=None), {path: value})
    line, _ = loads_profile(text, loaded.path).position(path)
    lines = text.split("\n")
    body = lines[line - 1]
    if " #" in body:
        body = body[: body.index(" #")].rstrip()
    lines[line - 1] = f"{body}  # {note}"
    new_text = "\n".join(lines)
    loads_profile(new_text, loaded.path)  # still valid with the comment
    tmp = loaded.path.with_name(loaded.path.name + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, loaded.path)
    return loaded.path


def describe_cost(points: list[dict[str, Any]]) -> str:
    best = max(points, key=lambda p: (p["pass_rate"] or 0, -Decimal(p["cost_mean_usd"])))
    return (
        f"best pass rate: {best['value']!r} ({(best['pass_rate'] or 0):.0%} at ${best['cost_per_1k_runs_usd']}/1k runs)"
    )
