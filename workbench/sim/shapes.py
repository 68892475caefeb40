"""Markdown shapes for the simulator's longer answers, the way real models format them.

An answer of 60 tokens or more gets a `##` heading from the prompt's main word, an opening paragraph, a bullet
list of its middle sentences and a closing line; when the prompt asks for code (mentions code, a function, a
refactor, a language, or holds a code fence) the middle is a fenced code block whose names come from the
prompt's words. The prose comes from `make_answer` with the code's tokens taken off the target, so the length
still follows `answer_tokens`. Deterministic: the same prompt gets the same shape.
"""

from __future__ import annotations

import re

from workbench.sim.text import content_words, make_answer
from workbench.tokens import count_text

MIN_TOKENS = 60
_CODE_CUES = re.compile(
    r"```|\b(code|function|method|implement|refactor|script|snippet|python|javascript|typescript|sql|regex"
    r"|compile|def|class|\w+\.(?:py|js|ts|go|rs))\b",
    re.I,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _ident(words: list[str]) -> str:
    parts = [re.sub(r"\W", "", w.lower()) for w in words[:2]]
    name = "_".join(p for p in parts if p) or "handle_request"
    return name if name[0].isalpha() else f"f_{name}"


def _code(words: list[str]) -> str:
    name = _ident(words)
    arg = re.sub(r"\W", "", (words[2] if len(words) > 2 else "items").lower()) or "items"
    arg = arg if arg[0].isalpha() else f"x_{arg}"
    return (
        "```python\n"
        f"def {name}({arg}: list[str]) -> list[str]:\n"
        f'    """Return the {arg} that are not empty, trimmed."""\n'
        f"    return [item.strip() for item in {arg} if item.strip()]\n"
        "```"
    )


def shaped_answer(*, seed: int, model: str, prompt_text: str, focus: str, answer_tokens: int, encoding: str) -> str:
    """The answer for a request, in Markdown when it is long enough to need structure."""
    if answer_tokens < MIN_TOKENS:
        return make_answer(
            seed=seed, model=model, prompt_text=prompt_text, focus=focus, answer_tokens=answer_tokens, encoding=encoding
        ).text
    words = content_words(focus) or ["answer"]
    code = _code(words) if _CODE_CUES.search(focus) else None
    overhead = count_text(code, encoding) + 8 if code else 12
    prose = make_answer(
        seed=seed,
        model=model,
        prompt_text=prompt_text,
        focus=focus,
        answer_tokens=max(answer_tokens - overhead, 20),
        encoding=encoding,
    ).text
    sentences = [s for s in _SENTENCE.split(prose.replace("\n\n", " ")) if s]
    title = words[0][:1].upper() + words[0][1:]
    head, middle, tail = sentences[0], sentences[1:-1], sentences[-1] if len(sentences) > 1 else ""
    parts = [f"## {title}", head]
    if code is not None:
        parts.append(code)
        if middle:
            parts.append(" ".join(middle))
    elif middle:
        parts.append("\n".join(f"- {s}" for s in middle))
    if tail:
        parts.append(tail)
    return "\n\n".join(parts)
