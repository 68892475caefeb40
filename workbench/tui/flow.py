"""A route drawn as a compact flow with box characters: the order of steps, branches and fallbacks at a glance.

    classify ◇─┬─ factual ── retrieve:docs ── gate:relevance ── answer(swift→steady)
               ├─ sentiment ── thank(swift)
               └─ complaint ── escalate(sage→steady)
    ╰─▶ polish(steady)

Pure functions over the profile models (no Textual), so the composer, `workbench routes` and tests share them.
"""

from __future__ import annotations

from typing import Any


def step_label(step: Any) -> str:
    """One step in a few characters: its name and, for model calls, the fallback chain."""
    kind = getattr(step, "kind", "generate")
    if kind == "generate":
        chain = "→".join(t.model for t in step.targets)
        return f"{step.name}({chain})"
    if kind == "route":
        return f"{step.name} ◇"
    if kind == "parallel":
        if step.targets:
            kids = "|".join(t.model for t in step.targets)
        else:
            kids = "|".join(s.name for s in step.steps or [])
        return f"{step.name} ⇉[{kids}] merge:{step.merge}"
    if kind == "gate":
        checks = ",".join(getattr(c, "name", None) or c.type for c in step.checks)
        degrade = getattr(step, "degrade", None)
        to = f":{degrade.branch}" if degrade is not None and degrade.branch else ""
        return f"gate:{step.name}[{checks}]→{step.on_fail}{to}"
    return f"{kind}:{step.name}"


def flow_lines(steps: list[Any], indent: int = 0) -> list[str]:
    """The steps as lines of text; a route step fans out into its branches, the steps after it follow below."""
    lines: list[str] = []
    chain: list[str] = []
    pad = " " * indent
    for i, step in enumerate(steps):
        if getattr(step, "kind", "generate") != "route":
            chain.append(step_label(step))
            continue
        head = " ── ".join([*chain, step_label(step)])
        branches = list(step.branches.items())
        lead = f"{pad}{head}─┬─ "
        col = len(lead) - 3  # where the ┬ sits
        for j, (bname, bsteps) in enumerate(branches):
            default = " (default)" if bname == step.default else ""
            body = flow_lines(bsteps, 0)
            first = f"{bname}{default} ── {body[0]}" if body else f"{bname}{default}"
            if j == 0:
                lines.append(lead + first)
            else:
                joint = "└─ " if j == len(branches) - 1 else "├─ "
                lines.append(" " * (col) + joint + first)
            cont = "   " if j == len(branches) - 1 else "│  "
            for extra in body[1:]:
                lines.append(" " * col + cont + " " * (len(bname) + len(default) + 4) + extra)
        rest = steps[i + 1 :]
        if rest:
            tail = flow_lines(rest, 0)
            lines.append(f"{pad}╰─▶ {tail[0]}")
            lines.extend(f"{pad}    {t}" for t in tail[1:])
        return lines
    lines.append(pad + " ── ".join(chain))
    return lines


def route_flow(route: Any) -> str:
    return "\n".join(flow_lines(route.steps))
