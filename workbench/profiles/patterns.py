"""Regular expressions written in a profile: a route rule's `when.regex`, a gate check's `regex`.

They are compiled at load with the `regex` package (a pattern that does not compile is a profile problem with its
line) and searched at run time with a time limit: a pattern that backtracks catastrophically on some input
(`^(\\w+\\s?)+$` on `"word " * 30 + "!"` took Python's `re` 30-60 s, holding the event loop and Ctrl-C) stops after
`PATTERN_SECONDS` with a `PatternError`, which the engine reports as a step error of class `pattern`.
The syntax is Python's `re` (the `regex` package's version 0 behaviour).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

#: wall-clock seconds one search may take: far above what a sane pattern needs on a long prompt (milliseconds)
PATTERN_SECONDS = 0.5


class PatternError(Exception):
    """A profile's regex could not be searched (it ran out of time). `str(exc)` is one line of words."""


@lru_cache(maxsize=512)
def _compiled(pattern: str, ignore_case: bool) -> Any:
    import regex

    return regex.compile(pattern, regex.V0 | (regex.IGNORECASE if ignore_case else 0))


def check_pattern(pattern: str, ignore_case: bool = True) -> str | None:
    """None if `pattern` compiles, else what is wrong in plain words."""
    import regex

    try:
        _compiled(pattern, ignore_case)
    except regex.error as exc:
        at = f" at position {exc.pos}" if getattr(exc, "pos", None) is not None else ""
        return f"not a valid regular expression: {getattr(exc, 'msg', None) or exc}{at}"
    except (RecursionError, MemoryError, OverflowError, ValueError) as exc:
        return f"not a usable regular expression: {exc}"
    return None


def search(pattern: str, text: str, *, ignore_case: bool = True) -> Any:
    """`regex.search` with the time limit: the match or None; PatternError when the search runs out of time."""
    try:
        return _compiled(pattern, ignore_case).search(text, timeout=PATTERN_SECONDS)
    except TimeoutError:
        raise PatternError(
            f"the regex /{pattern}/ took longer than {PATTERN_SECONDS:g} s on this input and was stopped (nested"
            " quantifiers such as (a+)+ backtrack without end; simplify the pattern)"
        ) from None
