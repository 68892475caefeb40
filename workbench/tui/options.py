"""The playground's run options line: request metadata as `k=v` pairs, the way `workbench run --meta` takes them."""

from __future__ import annotations

import re


def parse_meta(text: str) -> dict[str, str]:
    """`risk=high tier=gold` (spaces or commas between pairs) as a dict. A pair without `=` or with an empty key is
    a ValueError naming it; an empty line is no metadata."""
    out: dict[str, str] = {}
    for pair in (p for p in re.split(r"[\s,]+", text.strip()) if p):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"metadata {pair!r} is not KEY=VALUE (e.g. risk=high)")
        out[key] = value
    return out
