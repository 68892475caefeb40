"""Prompt templates over the run context, rendered with Jinja2's sandbox and strict undefined names.

The names a template may use: `input` (the request text, or the previous step's output for a `generate` step
whose prompt is not set), `history` (earlier turns, a list of {role, content}), `docs` (retrieved documents, a
list of {id, title, text, score}), `steps` (each earlier step's result by name: `steps.classify.label`,
`steps.answer.output`), `metadata` (the request's key=value pairs) and `feedback` (a gate's reasons on a retry).

`check_template` runs at profile load: a syntax error, an unknown top-level name, or `steps.X` naming no step of
the route is a profile problem with the file's line — never a crash mid-run. `render` is what the engine calls.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

CONTEXT_NAMES: frozenset[str] = frozenset({"input", "history", "docs", "steps", "metadata", "feedback"})


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def check_template(text: str, step_names: Iterable[str]) -> str | None:
    """None if `text` is a usable template, else what is wrong in plain words."""
    if not is_template(text):
        return None
    from jinja2 import TemplateSyntaxError, meta, nodes

    env = _env()
    try:
        ast = env.parse(text)
    except TemplateSyntaxError as exc:
        return f"template syntax error on its line {exc.lineno}: {exc.message}"
    unknown = sorted(meta.find_undeclared_variables(ast) - CONTEXT_NAMES)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(CONTEXT_NAMES), n=1, cutoff=0.6)
        return (
            f"template uses unknown name{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            f" (known: {', '.join(sorted(CONTEXT_NAMES))}" + (f"; did you mean {close[0]!r}?)" if close else ")")
        )
    known = set(step_names)
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.name == "steps":
            ref = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(ref, str) and ref not in known:
                close = difflib.get_close_matches(ref, sorted(known), n=1, cutoff=0.6)
                return (
                    f"template names step {ref!r}, which this route does not have (steps: {', '.join(sorted(known))}"
                    + (f"; did you mean {close[0]!r}?)" if close else ")")
                )
    return None


@lru_cache(maxsize=512)
def _compiled(text: str) -> Any:
    return _env().from_string(text)


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render a template (plain text passes through untouched, at no cost)."""
    if not is_template(text):
        return text
    return str(_compiled(text).render(**context))
