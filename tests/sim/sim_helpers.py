"""Helpers for the simulator tests."""

from __future__ import annotations

import json
from typing import Any


def dial(**fields: Any) -> dict[str, str]:
    """Headers dialling one request's behaviour: dial(answer_tokens=5, faults=[{"kind": "http_500"}])."""
    return {"x-sim-behaviour": json.dumps(fields)}
