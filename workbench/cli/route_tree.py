"""`workbench routes --route R`: a route's steps and branches drawn as a tree (rich `Tree`)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.tree import Tree

from workbench.profiles.steps import step_targets, walk_steps


def _label(step: Any, profile: Any) -> str:
    kind = step.kind
    head = f"[bold]{escape(step.name)}[/bold] [dim]({kind})[/dim]"
    targets = step_targets(step)
    if kind == "generate":
        return f"{head} → " + " → ".join(targets)
    if kind == "route":
        if step.mode == "rules":
            return f"{head} by rules, default {step.default!r}"
        if step.mode == "classifier":
            return f"{head} classifier {step.classifier.model} (min confidence {step.classifier.min_confidence})"
        sw = step.strong_weak
        return f"{head} difficulty ≥ {sw.threshold} → {sw.strong}, else {sw.weak} ({sw.scorer})"
    if kind == "retrieve":
        return f"{head} top {step.top_k} from {escape(step.corpus)}"
    if kind == "gate":
        checks = ", ".join(c.name or c.type for c in step.checks)
        to = f" → branch {escape(step.degrade.branch)}" if step.degrade is not None and step.degrade.branch else ""
        return f"{head} {checks}; on fail: {step.on_fail}{to}"
    if kind == "parallel":
        return f"{head} merge {step.merge}" + (f" of {', '.join(targets)}" if step.targets else "")
    return head


def _why(step: Any, branch: str) -> str:
    """What sends a request down `branch` of a route step."""
    if step.mode == "rules":
        rules = [r for r in step.rules if r.branch == branch]
        parts = []
        for rule in rules:
            when = rule.when
            bits = [f"/{when.regex}/"] if when.regex else []
            bits += [f"any of {when.keywords}"] if when.keywords else []
            bits += [f"{k}={v}" for k, v in when.metadata.items()]
            if when.min_tokens is not None:
                bits.append(f"≥{when.min_tokens} tokens")
            if when.max_tokens is not None:
                bits.append(f"≤{when.max_tokens} tokens")
            parts.append(" and ".join(bits))
        why = " or ".join(parts)
    elif step.mode == "classifier":
        why = " or ".join(f"label {n!r}" for n, c in step.categories.items() if (c.branch or n) == branch)
    else:
        why = "strong" if branch == step.strong_weak.strong else "weak"
    if branch == step.default:
        why = f"{why}; default" if why else "default"
    gates = [
        s.name
        for _, s in walk_steps([b for steps in step.branches.values() for b in steps])
        if s.kind == "gate" and s.degrade is not None and s.degrade.branch == branch
    ]
    if gates:
        fallback = f"fallback of gate {', '.join(gates)}"
        why = f"{why}; {fallback}" if why else fallback
    return why


def _add(node: Tree, steps: list[Any], profile: Any) -> None:
    for step in steps:
        child = node.add(_label(step, profile))
        if step.kind == "route":
            for bname, branch in step.branches.items():
                sub = child.add(f"[cyan]branch {escape(bname)}[/cyan] [dim]({escape(_why(step, bname))})[/dim]")
                _add(sub, branch, profile)
        elif step.kind == "parallel" and step.steps:
            _add(child, step.steps, profile)


def route_tree(profile: Any, name: str) -> Tree:
    route = profile.routes[name]
    tree = Tree(f"[bold]route {name}[/bold]" + (f" — {route.description}" if route.description else ""))
    _add(tree, route.steps, profile)
    return tree
