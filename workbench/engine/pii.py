"""PII detection and masking: emails, phone numbers, card numbers (Luhn-checked), API keys, IP addresses.

Shared by the `pii` gate check (what it finds) and step governance (`redact:` masks before a request leaves).
Findings carry kinds and counts only; the values never leave this module in an event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    "key": re.compile(
        r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}"
        r"|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})\b"
    ),
    "card": re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
    "phone": re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){2,4}\b"),
    "ip": re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
}
# Order matters: a card number also looks like a phone number; keys and emails first.
_ORDER = ("email", "key", "card", "ip", "phone")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string (card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _spans(text: str, kinds: Iterable[str]) -> list[tuple[int, int, str]]:
    wanted = set(kinds)
    taken: list[tuple[int, int, str]] = []
    for kind in _ORDER:
        if kind not in wanted:
            continue
        for m in _PATTERNS[kind].finditer(text):
            start, end = m.span()
            if any(s < end and start < e for s, e, _ in taken):
                continue
            if kind == "card":
                digits = re.sub(r"\D", "", m.group(0))
                if not (13 <= len(digits) <= 19 and luhn_ok(digits)):
                    continue
            if kind == "phone" and not 7 <= len(re.sub(r"\D", "", m.group(0))) <= 15:  # E.164: at most 15
                continue
            taken.append((start, end, kind))
    return sorted(taken)


def find_pii(text: str, kinds: Iterable[str]) -> dict[str, int]:
    """Counts of each PII kind found in `text` (kinds with none are absent)."""
    counts: dict[str, int] = {}
    for _, _, kind in _spans(text, kinds):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def redact(text: str, kinds: Iterable[str]) -> tuple[str, dict[str, int]]:
    """`text` with each PII value replaced by `[KIND]`, and the counts masked per kind."""
    spans = _spans(text, kinds)
    if not spans:
        return text, {}
    out: list[str] = []
    last = 0
    counts: dict[str, int] = {}
    for start, end, kind in spans:
        out.append(text[last:start])
        out.append(f"[{kind.upper()}]")
        last = end
        counts[kind] = counts.get(kind, 0) + 1
    out.append(text[last:])
    return "".join(out), counts
