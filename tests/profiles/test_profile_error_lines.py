"""Problems the YAML builder cannot survive — nesting hundreds deep, an integer beyond Python's 4300-digit
conversion limit — are reported at their own line and column, quickly, not at 1:1 after seconds of CPU."""

from __future__ import annotations

import time

import pytest

from workbench.errors import ProfileError
from workbench.profiles import loads_profile


def _problems(text: str) -> tuple[list[str], float]:
    start = time.perf_counter()
    with pytest.raises(ProfileError) as info:
        loads_profile(text, "p.yaml")
    return info.value.problems, time.perf_counter() - start


@pytest.mark.parametrize("depth", [300, 5000])
def test_deep_flow_nesting_names_its_line(depth: int) -> None:
    text = "name: x\n# a comment\nproviders:\n  a: " + "{b: " * depth + "1" + "}" * depth + "\n"
    problems, took = _problems(text)
    # line 4; the root and `providers` mappings are 2 levels, so the 99th "{b: " is the 101st: it opens at
    # column 6 + 4 * 98 = 398 (each "{b: " is 4 characters, the first at column 6)
    assert problems == ["p.yaml:4:398: (yaml): nested more than 100 deep (expected a profile's few levels)"]
    assert took < 2.0


def test_deep_block_nesting_names_its_line() -> None:
    text = "name: x\nproviders:\n  a:\n" + "".join("  " * (i + 2) + "-\n" for i in range(400))
    problems, _ = _problems(text)
    # two mappings (lines 1 and 3), then one list per line from line 4: level d opens on line d + 1
    assert problems[0].startswith("p.yaml:102:") and "nested more than 100 deep" in problems[0]


def test_a_5001_digit_integer_names_its_line() -> None:
    head = "name: x\nproviders:\n  sim: {kind: sim}\n" + "# padding\n" * 32  # lines 1-35
    text = head + "  other:\n    kind: sim\n    timeouts: {connect: " + "7" * 5001 + "}\n"  # the digits: line 38
    problems, took = _problems(text)
    # "    timeouts: {connect: " is 24 characters: the number starts at column 25
    assert problems == ["p.yaml:38:25: (yaml): an integer of 5001 digits is too large (expected at most 4300 digits)"]
    assert took < 2.0
