"""PII detection and masking (workbench/engine/pii.py): every kind the docs claim, the formats people write,
and the look-alikes that must stay (dates, times, versions, reference numbers). Expected outputs are written
out by hand; card numbers are the card networks' published test numbers."""

from __future__ import annotations

import pytest

from tests.engine.semantics_profile import PROFILE, collect, of
from workbench.engine import Engine
from workbench.engine.pii import find_pii, redact
from workbench.profiles.load import loads_profile

ALL = ["email", "key", "card", "ip", "phone"]


def fake_key(prefix: str, length: int, *, upper: bool = False) -> str:
    """A key-shaped string made at run time: the tree holds no literal that looks like a real credential."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" if upper else "aB3cD4eF5gH6jK7mN8pQ9rS2tU"
    return prefix + "".join(alphabet[(i * 7) % len(alphabet)] for i in range(length))


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # phone: North American national formats, and international numbers of any country
        ("call (555) 987-6543 today", "call [PHONE] today"),
        ("call +15559876543 today", "call [PHONE] today"),
        ("call +1 (212) 555-0199.", "call [PHONE]."),
        ("call 1-800-555-0199 or 212.555.0199", "call [PHONE] or [PHONE]"),
        ("London: +44 20 7946 0018, Berlin: +49 30 1234567", "London: [PHONE], Berlin: [PHONE]"),
        # card: Luhn-valid, any common separator, and not cut short by what follows
        ("card 5500.0000.0000.0004 ok", "card [CARD] ok"),
        ("card 4012  8888  8888  1881 ok", "card [CARD] ok"),
        ("card 4111-1111-1111-1111x", "card [CARD]x"),
        ("card 4111111111111111", "card [CARD]"),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("ref 12 4111 1111 1111 1111", "ref 12 [CARD]"),
        # email: internationalised too
        ("write jörg@bücher.de now", "write [EMAIL] now"),
        ("write jane.doe+tag@mail.example.co.uk.", "write [EMAIL]."),
        ("write ops@xn--bcher-kva.de", "write [EMAIL]"),
        # key: by the providers' published prefixes
        ("key " + fake_key("sk-proj-", 22), "key [KEY]"),
        ("key " + fake_key("sk-ant-api03-", 18), "key [KEY]"),
        ("aws " + fake_key("AKIA", 16, upper=True), "aws [KEY]"),
        ("gh " + fake_key("ghp_", 36), "gh [KEY]"),
        ("gh " + fake_key("github_pat_", 26), "gh [KEY]"),
        ("slack " + fake_key("xoxb-", 10) + "-" + fake_key("", 10), "slack [KEY]"),
        ("gcp " + fake_key("AIza", 35), "gcp [KEY]"),
        ("stripe " + fake_key("sk_live_", 20), "stripe [KEY]"),
        # ip: v4 and v6
        ("host 192.168.1.20 up", "host [IP] up"),
        ("host 2001:db8::8a2e:370:7334 up", "host [IP] up"),
        ("host fe80::1ff:fe23:4567:890a up", "host [IP] up"),
    ],
)
def test_each_kind_is_masked(text: str, masked: str) -> None:
    assert redact(text, ALL)[0] == masked


@pytest.mark.parametrize(
    "text",
    [
        "ref 1234 5678 9012 3456",  # 16 digits failing the Luhn check: not a card, nor a phone
        "on 2024-05-01 10:30:45 the job ran",  # a date and a time
        "1 000 000 dollars in 12345 67890 pieces",  # amounts and references
        "version 1.2.3, build 4567890",
        "mac 00:1A:2B:3C:4D:5E, scope a::b, loopback ::1",
        "key sk-short and AKIA123",  # too short to be keys
        "id user5559876543x and AB1234567890",  # digits inside identifiers
        "mail @handle or user@localhost",  # no domain with a TLD
        "0000 0000 0000 0000",  # Luhn-valid zeros, but no card number starts with 0
    ],
)
def test_look_alikes_stay(text: str) -> None:
    assert redact(text, ALL) == (text, {})


def test_only_the_asked_kinds_are_masked_and_counted() -> None:
    key = fake_key("sk-proj-", 22)
    text = f"a@example.com, (555) 987-6543, 4111 1111 1111 1111, 10.0.0.1, {key}"
    assert redact(text, ["email", "ip"]) == (
        f"[EMAIL], (555) 987-6543, 4111 1111 1111 1111, [IP], {key}",
        {"email": 1, "ip": 1},
    )
    assert find_pii(text, ALL) == {"email": 1, "phone": 1, "card": 1, "ip": 1, "key": 1}
    assert find_pii(text, ["key"]) == {"key": 1}


async def test_the_outside_testers_formats_never_reach_the_provider() -> None:
    prompt = (
        "Call (555) 987-6543 or +15559876543 or +1 (212) 555-0199; cards 5500.0000.0000.0004, "
        "4012  8888  8888  1881 and 4111-1111-1111-1111x; mail jörg@bücher.de."
    )
    async with Engine(loads_profile(PROFILE)) as engine:  # route `redacted`: redact [email, card, phone]
        events = await collect(engine, prompt, route="redacted")
        received = engine._sim.last_prompt("sim-small")  # type: ignore[union-attr]
    assert received.messages[-1]["content"] == (
        "Call [PHONE] or [PHONE] or [PHONE]; cards [CARD], [CARD] and [CARD]x; mail [EMAIL]."
    )
    assert of(events, "decision", action="redact")[0].data == {"kinds": {"card": 3, "email": 1, "phone": 3}}
