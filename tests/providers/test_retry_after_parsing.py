"""Retry hints: Retry-After in every form, retry-after-ms, and the wording of providers' error bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from workbench.providers.retry_after import (
    parse_duration,
    parse_retry_after,
    parse_retry_after_ms,
    retry_after,
    retry_after_from_body,
    retry_after_from_headers,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("  7 ", 7.0),
        ("1.5", 1.5),  # fractional: not RFC, but sent in the wild
        ("5, 10", 5.0),  # a repeated header joined by a proxy: the first wins
        ("30s", 30.0),
        ("30 seconds", 30.0),
        ("250ms", 0.25),
        ("12abc", None),
        ("2024-01-01", None),  # digits first but neither a number nor an HTTP-date
        ("soon", None),
        ("", None),
        ("-3", None),
        (None, None),
    ],
)
def test_delta_seconds_and_garbage(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_http_date_in_the_future() -> None:
    when = format_datetime(datetime(2026, 11, 25, 12, 0, 42, tzinfo=UTC), usegmt=True)
    assert when.endswith("GMT")
    assert parse_retry_after(when, now=NOW) == pytest.approx(42.0)


def test_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0


def test_obsolete_date_forms() -> None:
    assert parse_retry_after("Wednesday, 25-Nov-26 12:00:10 GMT", now=NOW) == pytest.approx(10.0)
    assert parse_retry_after("Wed Nov 25 12:00:05 2026", now=NOW) == pytest.approx(5.0)


def test_invalid_date_is_none() -> None:
    assert parse_retry_after("Wed, 99 Foo 2015 07:28:00 GMT", now=NOW) is None


@pytest.mark.parametrize(("value", "expected"), [("1500", 1.5), ("20.5", 0.0205), ("abc", None), ("-1", None)])
def test_retry_after_ms(value: str, expected: float | None) -> None:
    assert parse_retry_after_ms(value) == expected


def test_retry_after_ms_preferred_over_retry_after() -> None:
    headers = httpx.Headers({"Retry-After": "3", "retry-after-ms": "2500"})
    assert retry_after_from_headers(headers) == 2.5


def test_invalid_ms_falls_back_to_retry_after_and_plain_dicts_are_case_insensitive() -> None:
    assert retry_after_from_headers({"Retry-After-Ms": "junk", "RETRY-AFTER": "4"}) == 4.0
    assert retry_after_from_headers({}) is None
    assert retry_after_from_headers(None) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Rate limit reached for gpt-4o. Please try again in 5.289s. Visit ...", 5.289),
        ("Rate limit reached. Please try again in 20ms.", 0.02),
        ("Please try again in 1m12.5s.", 72.5),
        ("Please try again in 6m0s", 360.0),
        ("Resource exhausted. Please retry in 43.53s.", 43.53),
        ("Please retry after 30 seconds", 30.0),
        ('{"error": {"details": [{"retryDelay": "17s"}]}}', 17.0),
        ("Overloaded", None),
        ("", None),
        (None, None),
    ],
)
def test_body_hints(body: str | None, expected: float | None) -> None:
    result = retry_after_from_body(body)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_headers_win_over_body_and_body_used_when_headers_silent() -> None:
    assert retry_after({"retry-after": "2"}, "Please try again in 9s") == 2.0
    assert retry_after({}, "Please try again in 9s") == 9.0
    assert retry_after({"retry-after": "nonsense"}, "try again in 250ms") == 0.25


def test_parse_duration() -> None:
    assert parse_duration("1h2m3s") == 3723.0
    assert parse_duration("nothing") is None
