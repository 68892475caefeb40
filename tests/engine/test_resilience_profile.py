"""Bad resilience policy values are profile errors that name the file and line, never a crash mid-run."""

from __future__ import annotations

import pytest

from workbench.errors import ProfileError
from workbench.profiles.load import load_profile

BASE = """name: bad-policies
providers:
  oai: {kind: sim}
models:
  a: {provider: oai, model: sim-a}
  b: {provider: oai, model: sim-b}
routes:
  main:
    steps:
      - name: answer
        targets: [a, b]
"""


@pytest.mark.parametrize(
    "extra, line, words",
    [
        ("        timeouts: {first_token: -1}\n", 12, "first_token"),
        ("        retry: {max_attempts: 10000}\n", 12, "max_attempts"),
        ("        retry:\n          max_attempts: 2\n          backoff_base_s: -0.5\n", 14, "backoff_base_s"),
        ("        budget: {latency_ms: 0}\n", 12, "latency_ms"),
    ],
)
def test_out_of_range_values_name_file_and_line(tmp_path, extra: str, line: int, words: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE + extra)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    text = "\n".join(info.value.problems)
    assert f"{path}:{line}:" in text and words in text


def test_a_hedge_on_a_single_target_step_is_a_profile_error(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE.replace("targets: [a, b]", "targets: [a]") + "        hedge: {after_ms: 300}\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    text = "\n".join(info.value.problems)
    assert f"{path}:12:" in text and "a hedge needs a second target" in text


def test_a_hedge_with_two_targets_loads(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE + "        hedge: {after_ms: 300}\n")
    assert load_profile(path).profile.routes["main"].steps[0].hedge.after_ms == 300
