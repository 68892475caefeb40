"""The fast path of profile loading (libyaml, `fast_yaml.py`): a valid profile is read without the round-trip tree,
reads every value as the round-trip path does, and anything wrong still gets its file:line from the round-trip path."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench.profiles.load as load_mod
from workbench.errors import ProfileError
from workbench.locations import PACKAGED_DEMO
from workbench.profiles.fast_yaml import fast_plain
from workbench.profiles.load import load_profile, loads_profile
from workbench.profiles.yaml_doc import MAX_NODES, make_yaml, parse, plain


def _round_trip(text: str) -> object:
    return plain(parse(make_yaml(text), text, "x"), [MAX_NODES])


def test_a_valid_profile_loads_without_building_the_round_trip_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_round_trip(*_: object) -> object:
        raise AssertionError("the round-trip loader was used for a valid profile")

    monkeypatch.setattr(load_mod, "make_yaml", no_round_trip)
    loaded = load_profile(PACKAGED_DEMO)
    assert loaded.profile.name == "demo" and "default" in loaded.profile.routes


def test_the_fast_path_reads_the_demo_exactly_as_the_round_trip_path() -> None:
    text = PACKAGED_DEMO.read_text(encoding="utf-8")
    assert fast_plain(text) == _round_trip(text)


# YAML 1.1 (PyYAML's own table) and 1.2 (ruamel) disagree on some of these; the fast path must agree or give up
SCALARS = [
    "yes",
    "no",
    "on",
    "off",
    "y",
    "NO",
    "0o17",
    "017",
    "0777",
    "1_000",
    "0x1f",
    "1e3",
    "1.",
    ".5",
    ".inf",
    ".NaN",
    "-.inf",
    "12:30",
    "1:30:00",
    "2026-01-01",
    "2026-01-01 10:00",
    "2026-01-01T10:00:00Z",
    "~",
    "null",
    "Null",
    "true",
    "False",
    "+5",
    "-0",
    "-0.50",
    "3.14",
    "gpt-4o",
    "4o-mini",
    "=",
    "<<",
    "${KEY}",
    "'quoted 5'",
    '"017"',
]


@pytest.mark.parametrize("scalar", SCALARS)
def test_a_plain_scalar_reads_as_ruamel_reads_it_or_the_fast_path_gives_up(scalar: str) -> None:
    text = f"k: {scalar}\nl: [{scalar}]\n"
    fast = fast_plain(text)
    assert fast is None or fast == _round_trip(text)


# documents where libyaml and ruamel might differ in what they accept: whatever ruamel refuses, the fast path gives
# up on (so the round-trip path words the error); whatever it accepts reads the same, or the fast path gives up
DOCUMENTS = [
    "a:\n\tb: 1\n",
    "\ufeffa: 1\n",
    "a: 1\r\nb: 2\r\n",
    'a: "x\x07"\n',
    "a: x\x00\n",
    "a: b\u2028c\n",
    "%YAML 1.1\n---\na: yes\n",
    "a: 'it''s'\n",
    "a: |\n  x\n  y\n",
    "a: >-\n  x\n  y\n",
    "a: [1, 2,]\n",
    "a: {b: 1, }\n",
    "a: b: c\n",
    "- a\nb: 1\n",
    "a:\n- 1\n- 2\n",
    "a: 'x\n  y'\n",
    "? a\n: 1\n",
    "a: x #c\nb: y#c\n",
    "a: @x\n",
    "a: `x\n",
    "a: ]\n",
    "a: 1\n...\n",
    "a:    \n  - x\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_a_document_is_accepted_and_read_as_ruamel_reads_it_or_the_fast_path_gives_up(text: str) -> None:
    fast = fast_plain(text)
    try:
        expected = _round_trip(text)
    except ProfileError:
        assert fast is None
    else:
        assert fast is None or fast == expected


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",  # duplicate key: ruamel refuses it, PyYAML keeps the last
        "true: 1\nTrue: 2\n",  # the same key spelt twice
        "%YAML 1.1\n---\na: yes\n",  # ruamel would read `yes` as true here
        "a: !!set {x}\n",
        "<<: {a: 1}\n",
        "a: 1\n---\nb: 2\n",
        "k: 2026-13-01\n",
        "[" * 101 + "]" * 101 + "\n",
        "? [a]\n: b\n",
    ],
)
def test_the_fast_path_gives_up_on_what_it_does_not_read_like_ruamel(text: str) -> None:
    assert fast_plain(text) is None


def test_a_broken_profile_still_names_its_line(tmp_path: Path) -> None:
    text = PACKAGED_DEMO.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    where = next(i for i, line in enumerate(lines) if line.startswith("routes:"))
    lines.insert(where + 1, "  broken:\n    steps: 7\n")  # valid YAML, invalid profile
    path = tmp_path / "p.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert any(p.startswith(f"{path}:{where + 3}:") and "routes.broken.steps" in p for p in info.value.problems), (
        info.value.problems
    )


def test_the_alias_bomb_is_still_refused() -> None:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 9):
        prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
        rows.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    text = "\n".join(rows) + "\n"
    assert fast_plain(text) is None
    with pytest.raises(ProfileError) as info:
        loads_profile(text, "bomb.yaml")
    assert "expands to more than 200000 values" in str(info.value)
