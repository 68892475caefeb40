"""The usage figures the simulator reports, in each provider's shape.

One set of true figures per request (`Figures`: prompt tokens P, visible output O, reasoning r, cache read c,
cache writes w5/w1h) is rendered in the shape a behaviour asks for:

- "openai": prompt_tokens = P (cached inside), completion_tokens = O + r (reasoning inside).
- "gemini_openai": like openai, but completion_tokens = O; reasoning_tokens reported apart; total = P + O + r.
- "anthropic": input_tokens = P - c - w5 - w1h (reads and writes apart), output_tokens = O + r.
- "none": no usage at all (`render` returns None).

OpenAI's shape has no field for cache writes, so w5/w1h appear only in the anthropic shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.sim.behaviour import SimBehaviour, UsageShape

__all__ = ["Figures", "figures_for", "render", "render_anthropic_start"]


@dataclass(frozen=True)
class Figures:
    prompt: int  # P: every prompt token, cached or not
    output: int  # O: visible answer tokens
    reasoning: int  # r
    cache_read: int  # c
    cache_write_5m: int  # w5
    cache_write_1h: int  # w1h


def figures_for(behaviour: SimBehaviour, prompt_tokens: int, output_tokens: int, shown_reasoning: int = 0) -> Figures:
    """The figures for one request, with the cache buckets clamped so that together they never exceed P; the
    reasoning is the dial's, or the shown thinking's tokens when that is more."""
    left = prompt_tokens
    c = min(behaviour.cached_tokens, left)
    left -= c
    w5 = min(behaviour.cache_write_5m_tokens, left)
    left -= w5
    w1h = min(behaviour.cache_write_1h_tokens, left)
    return Figures(prompt_tokens, output_tokens, max(behaviour.reasoning_tokens, shown_reasoning), c, w5, w1h)


def render(shape: UsageShape, f: Figures) -> dict[str, Any] | None:
    """The usage object of the given shape (None for "none")."""
    if shape == "none":
        return None
    if shape == "anthropic":
        return _anthropic(f, f.output + f.reasoning)
    completion = f.output + f.reasoning if shape == "openai" else f.output
    return {
        "prompt_tokens": f.prompt,
        "completion_tokens": completion,
        "total_tokens": f.prompt + f.output + f.reasoning,
        "prompt_tokens_details": {"cached_tokens": f.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": f.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def render_anthropic_start(shape: UsageShape, f: Figures) -> dict[str, Any] | None:
    """The usage in a stream's opening event: input figures final, output not yet known (the real API says 1)."""
    if shape == "anthropic":
        return _anthropic(f, 1)
    return render(shape, Figures(f.prompt, 0, 0, f.cache_read, f.cache_write_5m, f.cache_write_1h))


def _anthropic(f: Figures, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": f.prompt - f.cache_read - f.cache_write_5m - f.cache_write_1h,
        "cache_creation_input_tokens": f.cache_write_5m + f.cache_write_1h,
        "cache_read_input_tokens": f.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": f.cache_write_5m,
            "ephemeral_1h_input_tokens": f.cache_write_1h,
        },
        "output_tokens": output_tokens,
    }
