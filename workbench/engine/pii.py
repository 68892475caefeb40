"""PII detection and masking: emails, phone numbers, card numbers (Luhn-checked), API keys, IP addresses.

Shared by the `pii` gate check (what it finds) and step governance (`redact:` masks before a request leaves).
Findings carry kinds and counts only; the values never leave this module in an event.

What each kind finds:

- email: `local@domain.tld`, internationalised too (`jörg@bücher.de`, punycode `xn--` labels).
- key: provider API keys by their published prefixes (OpenAI/Anthropic `sk-`, AWS `AKIA`, GitHub `ghp_`…
  and `github_pat_`, Slack `xox?-`, Google `AIza`, Stripe `sk_live_`/`rk_test_`…).
- card: 13–19 digits that pass the Luhn check, written whole or in groups of 3–8 digits separated by spaces,
  dots or hyphens (`4111-1111-1111-1111`, `5500.0000.0000.0004`, `4012  8888  8888  1881`).
- ip: IPv4 dotted quads, and IPv6 addresses that Python's `ipaddress` accepts.
- phone: what libphonenumber (the `phonenumbers` package) reads as a phone number: any international number
  (`+` and a country code: `+15559876543`, `+44 20 7946 0018`), and North American national numbers written
  as such (`(555) 987-6543`, `212.555.0199`, `1-800-555-0199`). Other countries' national formats (no `+`)
  are not recognised: read as North American they would mostly be guesses, and masking every 10-digit
  reference number is its own harm.

Speed: this runs on every request of a step with `redact`. Each kind starts from one compiled regex; only the
few candidates it finds go to the slower checks (Luhn windows, `ipaddress`, libphonenumber's matcher), so
prose without long digit runs costs about as much as before.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

Span = tuple[int, int]

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![\w-])"
)
_KEY = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{22,}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,})\b"
)
# A run of digit groups joined by one or two separators; card numbers are looked for inside it.
_DIGIT_RUN = re.compile(r"(?<!\d)\d+(?:[ \t.-]{1,2}\d+)*")
_DIGITS = re.compile(r"\d+")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# Something a phone number could be in: an optional + or (, digits and phone punctuation, at least 7 digits
# (checked after). libphonenumber then decides, reading a few characters around it (a trailing `:30` makes
# `2024-05-01 10` a timestamp, not a number).
_PHONE_CANDIDATE = re.compile(r"(?<!\w)(?:\+|\(\s*)?\d[\d \t().\-/]*\d\)?(?!\w)")  # not inside a word
_PHONE_CONTEXT = 4
_DATE = re.compile(r"\d{4}([-/.])\d{1,2}\1\d{1,2}")  # 2024-05-01: common in logs, never a phone number
_NANP_SHAPE = re.compile(r"(?:\+?1[ .-]?)?(?:\(\s*\d{3}\s*\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}")
_NATIONAL_REGION = "US"  # national numbers (no +) are read as North American

# Order matters: keys and emails first (they hold digits), cards before phones (a card looks like a phone).
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


def _cards(text: str) -> Iterator[Span]:
    """Luhn-valid 13–19 digit numbers: one group, or groups of 3–8 digits (leftmost, then longest, first)."""
    for run in _DIGIT_RUN.finditer(text):
        if len(run.group()) < 13:
            continue
        base = run.start()
        groups = [(base + g.start(), base + g.end()) for g in _DIGITS.finditer(run.group())]
        i = 0
        while i < len(groups):
            found = None
            digits = ""
            for j in range(i, len(groups)):
                start, end = groups[j]
                if j > i and not all(3 <= e - s <= 8 for s, e in groups[i : j + 1]):
                    break
                digits += text[start:end]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and digits[0] != "0" and luhn_ok(digits):
                    found = j
            if found is None:
                i += 1
                continue
            yield groups[i][0], groups[found][1]
            i = found + 1


def _ips(text: str) -> Iterator[Span]:
    for m in _IPV4.finditer(text):
        yield m.span()
    for m in _IPV6.finditer(text):
        candidate = m.group()
        if sum(1 for part in candidate.split(":") if part) < 2 or not any(ch.isdigit() for ch in candidate):
            continue  # `::1`, `a::b`: too little to tell from prose
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield m.span()


def _phones(text: str, taken: list[tuple[int, int, str]]) -> Iterator[Span]:
    import phonenumbers  # ~50 ms the first time: only steps that ask for phones pay it
    from phonenumbers import Leniency, PhoneNumberMatcher, ValidationResult

    for cand in _PHONE_CANDIDATE.finditer(text):
        if sum(ch.isdigit() for ch in cand.group()) < 7:
            continue
        if _DATE.fullmatch(cand.group()) or any(s <= cand.start() and cand.end() <= e for s, e, _ in taken):
            continue  # all of it is a card, key, ... already: the matcher would only try its pieces
        lo = max(0, cand.start() - _PHONE_CONTEXT)
        window = text[lo : cand.end() + _PHONE_CONTEXT]
        for match in PhoneNumberMatcher(window, _NATIONAL_REGION, leniency=Leniency.POSSIBLE):
            start, end = lo + match.start, lo + match.end
            if start < cand.start() or end > cand.end():
                continue
            reason = phonenumbers.is_possible_number_with_reason(match.number)
            if reason != ValidationResult.IS_POSSIBLE:  # too short or long, or a local-only 7-digit number
                continue
            international = match.raw_string.lstrip().startswith("+")
            if not international and not (
                phonenumbers.is_valid_number(match.number) or _NANP_SHAPE.fullmatch(match.raw_string)
            ):
                continue  # `12345 67890` is ten digits, not a number anyone writes as a phone
            yield start, end


def _find(kind: str, text: str, taken: list[tuple[int, int, str]]) -> Iterator[Span]:
    if kind == "email":
        return (m.span() for m in _EMAIL.finditer(text))
    if kind == "key":
        return (m.span() for m in _KEY.finditer(text))
    if kind == "card":
        return _cards(text)
    if kind == "ip":
        return _ips(text)
    return _phones(text, taken)


def _spans(text: str, kinds: Iterable[str]) -> list[tuple[int, int, str]]:
    wanted = set(kinds)
    taken: list[tuple[int, int, str]] = []
    for kind in _ORDER:
        if kind not in wanted:
            continue
        for start, end in list(_find(kind, text, taken)):
            if not any(s < end and start < e for s, e, _ in taken):
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
