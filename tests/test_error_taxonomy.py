"""One error taxonomy (issue 21 item 2): a provider error's kind, a hop's `error_class` and a profile's
`retry.on` are values of one enum, defined once; the published event schema keeps its values."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

import workbench
from workbench.engine import events
from workbench.engine.event_schema import event_schema
from workbench.errors import ErrorClass
from workbench.profiles import policies
from workbench.providers import base
from workbench.providers.errors import classify_http_error

# The values the v2 schema published for `error_class`, written out here (not read from the code under test).
PUBLISHED = [
    "rate_limit",
    "quota",
    "overloaded",
    "server",
    "timeout",
    "conflict",
    "connection",
    "malformed",
    "auth",
    "bad_request",
    "not_found",
    "context_window",
    "content_policy",
    "unknown",
    "cost_cap",
    "budget",
    "breaker",
    "governance",
    "template",
    "pattern",
    "gate",
    "cancelled",
    "internal",
    "client_overloaded",
]


def test_the_three_layers_use_one_enum() -> None:
    assert events.ErrorClass is ErrorClass
    assert base.ErrorKind is ErrorClass
    assert all(type(v) is ErrorClass for v in typing.get_args(policies.ErrorClassName))
    assert base.RETRYABLE_KINDS <= set(ErrorClass)


def test_a_provider_error_kind_is_the_enum_and_an_unknown_kind_is_refused() -> None:
    err = classify_http_error(429, {}, "slow down")
    assert type(err.kind) is ErrorClass and err.kind == "rate_limit"
    own = base.ProviderError(ErrorClass.CLIENT_OVERLOADED, "the loop lagged", retryable=True)
    assert own.kind is ErrorClass.CLIENT_OVERLOADED
    with pytest.raises(ValueError):
        base.ProviderError("no_such_kind", "x")  # type: ignore[arg-type]  # what untyped code could pass


def test_published_schema_values_unchanged() -> None:
    hop = event_schema()["$defs"]["hop_finished"]["properties"]["error_class"]
    assert hop["enum"] == [*PUBLISHED, None]


def test_no_type_ignore_left_on_error_kinds() -> None:
    root = Path(workbench.__file__).parent / "engine"
    pattern = re.compile(r"(error_class|\.kind|client_overloaded|governance).*# type: ignore")
    found = [
        f"{path.name}:{n}"
        for path in sorted(root.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
