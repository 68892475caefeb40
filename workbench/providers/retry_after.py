"""How long a provider asks us to wait before trying again, from its headers or its error body.

Sources, most precise first:
- `retry-after-ms` (OpenAI, Azure): milliseconds, may be fractional;
- `Retry-After` (RFC 9110): delta-seconds or an HTTP-date; a date already past means "now" (0); fractional
  seconds are accepted (some servers send them); a value that starts with digits but is not a date is read
  sensibly: "5, 10" (a repeated header joined by a proxy) gives 5, "30s" / "30 seconds" / "250ms" give their
  duration, anything else ("12abc", "soon") is invalid -> None;
- the error body's own hint: "Please try again in 5.289s", "try again in 20ms", "Please try again in 1m12.5s",
  "Please retry in 43.53s", and Gemini's `"retryDelay": "43s"`.

All results are seconds (float, never negative) or None when nothing usable was given. Only error paths call
these, so clarity wins over speed here.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import UTC

__all__ = [
    "parse_retry_after",
    "parse_retry_after_ms",
    "parse_duration",
    "retry_after_from_headers",
    "retry_after_from_body",
    "retry_after",
]

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Digits first, then optionally a unit, then the end or a list separator (a header repeated and joined).
_LEADING = re.compile(r"(\d+(?:\.\d+)?)\s*(milliseconds?|ms|seconds?|secs?|s)?\s*(?:[,;]|$)", re.IGNORECASE)
_UNIT = r"(?:milliseconds?|ms|minutes?|mins?|m|hours?|hrs?|h|seconds?|secs?|s)(?![a-z])"
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(" + _UNIT + ")", re.IGNORECASE)
_BODY_HINT = re.compile(r"(?:try again|retry)\s+(?:in|after)\s+((?:\d+(?:\.\d+)?\s*" + _UNIT + r"\s*)+)", re.IGNORECASE)
_RETRY_DELAY = re.compile(r'"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"')


def _unit_scale(unit: str | None) -> float:
    if not unit:
        return 1.0
    u = unit.lower()
    if u.startswith("ms") or u.startswith("milli"):
        return 0.001
    if u.startswith("m"):
        return 60.0
    if u.startswith("h"):
        return 3600.0
    return 1.0


def parse_duration(text: str) -> float | None:
    """A Go-style / spoken duration: "1m12.5s", "20ms", "6m0s", "43.53 seconds" -> seconds; None if none found."""
    parts = _PART.findall(text)
    if not parts:
        return None
    return sum(float(number) * _unit_scale(unit) for number, unit in parts)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """The `Retry-After` header value in seconds (see the module docstring for the accepted forms)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        return float(text)
    if not text[0].isdigit():
        # HTTP-date (IMF-fixdate, or the obsolete RFC 850 / asctime forms): all start with a day name.
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    match = _LEADING.match(text)
    if match:
        return float(match.group(1)) * _unit_scale(match.group(2))
    return None


def parse_retry_after_ms(value: str | None) -> float | None:
    """The `retry-after-ms` header value, converted to seconds; None when absent or not a number."""
    if value is None:
        return None
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return float(text) / 1000.0


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # httpx.Headers is case-insensitive already; a plain dict may not be.
    for key, val in headers.items():
        if key.lower() == name:
            return val
    return None


def retry_after_from_headers(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """`retry-after-ms` when present and valid, else `Retry-After`; None when neither helps."""
    if not headers:
        return None
    ms = parse_retry_after_ms(_header(headers, "retry-after-ms"))
    if ms is not None:
        return ms
    return parse_retry_after(_header(headers, "retry-after"), now=now)


def retry_after_from_body(text: str | None) -> float | None:
    """The wait an error message asks for ("Please try again in 5.289s"); None when it names none."""
    if not text:
        return None
    match = _BODY_HINT.search(text)
    if match:
        return parse_duration(match.group(1))
    match = _RETRY_DELAY.search(text)
    if match:
        return float(match.group(1))
    return None


def retry_after(
    headers: Mapping[str, str] | None, body: str | None = None, *, now: float | None = None
) -> float | None:
    """The best retry hint available: headers first (they are exact), then the body's wording."""
    from_headers = retry_after_from_headers(headers, now=now)
    if from_headers is not None:
        return from_headers
    return retry_after_from_body(body)
