"""Simulator dials are bounded where the code can carry them: a runaway answer length or an infinite
Retry-After is a located profile error, not a frozen or crashing simulator."""

from __future__ import annotations

import pytest

from workbench.errors import ProfileError
from workbench.profiles import loads_profile

PROFILE = """name: dials
providers:
  sim: {kind: sim}
models:
  m:
    provider: sim
    model: sim-m
    sim: {DIAL}
routes:
  r: {steps: [{name: a, targets: [m]}]}
"""


@pytest.mark.parametrize(
    "dial, field",
    [
        ("{answer_tokens: 100000000}", "models.m.sim.answer_tokens"),
        ("{faults: [{kind: http_429, retry_after_s: .inf}]}", "models.m.sim.faults.0.retry_after_s"),
        ("{ttft_ms: .nan}", "models.m.sim.ttft_ms"),
        ("{tokens_per_s: .inf}", "models.m.sim.tokens_per_s"),
    ],
)
def test_runaway_dials_are_profile_errors_at_their_line(dial: str, field: str) -> None:
    with pytest.raises(ProfileError) as info:
        loads_profile(PROFILE.replace("{DIAL}", dial), "p.yaml")
    assert any(p.startswith("p.yaml:8:") and field in p for p in info.value.problems), info.value.problems


def test_a_long_but_bounded_answer_is_still_accepted() -> None:
    loaded = loads_profile(PROFILE.replace("{DIAL}", "{answer_tokens: 100000}"), "p.yaml")
    assert loaded.profile.models["m"].sim.answer_tokens == 100_000
