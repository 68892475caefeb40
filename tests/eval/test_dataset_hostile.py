"""Hostile and broken eval datasets: each is refused by `workbench eval` with exit 2 and one message naming the
file, the line (or the test) and the field — no traceback, no abort, no hang, promptly (real subprocesses).

The cases are those an attacker's pass found: bad check values (a threshold of "abc" or [1], max_tokens of
"1e999"), a lone surrogate that only failed when the run was saved, nesting 100,000 deep, a 200 KB CSV field,
promptfoo files of the wrong shapes, endless devices, a FIFO nobody writes to, and a billion-laughs YAML. And a
promptfoo `prompts` list is a matrix: every prompt with every test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench.eval.dataset import load_dataset

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "profiles" / "demo.yaml"

GOOD = '{"id": "ok", "input": "fine"}\n'
BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def _jsonl(text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        f = tmp / "d.jsonl"
        f.write_text(GOOD + text + "\n")
        return f

    return make


def _yaml(text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        f = tmp / "pf.yaml"
        f.write_text(text)
        return f

    return make


def _csv_long_field(tmp: Path) -> Path:
    f = tmp / "d.csv"
    f.write_text("id,input\nshort,hello\nlong," + "x" * 200_000 + "\n")
    return f


def _device(device: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        f = tmp / "d.jsonl"  # named like a dataset: only the file type tells it apart
        f.symlink_to(device)
        return f

    return make


def _fifo(tmp: Path) -> Path:
    f = tmp / "d.jsonl"
    os.mkfifo(f)  # nobody writes to it: opening it for reading would block forever
    return f


TEST = "tests:\n  - description: one\n    vars: {input: hi}\n"
DEEP = "[" * 100_000 + "]" * 100_000

# (case, the dataset, words the message must hold: file:line and the field)
CASES: list[tuple[str, Callable[[Path], Path], list[str]]] = [
    (
        "jsonl threshold abc",
        _jsonl('{"id": "t", "input": "q", "checks": [{"type": "judge", "value": "good?", "threshold": "abc"}]}'),
        ["d.jsonl:2: case 't': checks[0].threshold: expected a number from 0 to 1, got 'abc'"],
    ),
    (
        "jsonl threshold list",
        _jsonl('{"id": "t", "input": "q", "checks": [{"type": "judge", "value": "good?", "threshold": [1]}]}'),
        ["d.jsonl:2: case 't': checks[0].threshold: expected a number from 0 to 1, got [1]"],
    ),
    (
        "jsonl lone surrogate",
        _jsonl('{"id": "s", "input": "bad \\ud800 text"}'),
        ["d.jsonl:2: input: text with a lone surrogate \\ud800 at character 5"],
    ),
    (
        "jsonl surrogate in metadata",
        _jsonl('{"id": "s", "input": "q", "metadata": {"tier": "\\udfff"}}'),
        ["d.jsonl:2: metadata.tier: text with a lone surrogate \\udfff"],
    ),
    (
        "jsonl 100k deep",
        _jsonl('{"id": "d", "input": "q", "metadata": ' + DEEP + "}"),
        ["d.jsonl:2: metadata: nested more than 100 deep"],
    ),
    (
        "jsonl 150 deep",
        _jsonl('{"id": "d", "input": "q", "metadata": {"x": ' + "[" * 150 + "]" * 150 + "}}"),
        ["d.jsonl:2: metadata.x[0]: nested more than 100 deep"],
    ),
    (
        "jsonl max_tokens 1e999",
        _jsonl('{"id": "m", "input": "q", "checks": {"max_tokens": "1e999"}}'),
        ["d.jsonl:2: case 'm': checks.max_tokens: expected a whole number from 0 to 10,000,000, got '1e999'"],
    ),
    (
        "jsonl max_cost NaN",
        _jsonl('{"id": "m", "input": "q", "checks": {"max_cost_usd": NaN}}'),
        ["d.jsonl:2: case 'm': checks.max_cost_usd: expected a number of 0 or more, got nan"],
    ),
    ("csv 200 KB field", _csv_long_field, ["d.csv:3: input: a field of 200,000 characters is longer than 131,072"]),
    (
        "promptfoo defaultTest list",
        _yaml("defaultTest: [1]\n" + TEST),
        ["pf.yaml:1: defaultTest: expected a mapping, got a list"],
    ),
    (
        "promptfoo vars list",
        _yaml("tests:\n  - description: one\n    vars: [1, 2]\n"),
        ["pf.yaml:2: tests[0] ('one'): vars: expected a mapping, got a list"],
    ),
    (
        "promptfoo metadata scalar",
        _yaml(TEST + "    metadata: 5\n"),
        ["pf.yaml:2: tests[0] ('one'): metadata: expected a mapping, got 5"],
    ),
    (
        "promptfoo threshold high",
        _yaml(TEST + "    assert: [{type: llm-rubric, value: polite, threshold: high}]\n"),
        ["pf.yaml:2: tests[0] ('one'): assert[0].threshold: expected a number from 0 to 1, got 'high'"],
    ),
    (
        "promptfoo 5000 deep",
        _yaml(TEST + "    metadata: {x: " + "[" * 5000 + "]" * 5000 + "}\n"),
        ["pf.yaml:4:", "nested more than 100 deep (expected a test file's few levels)"],
    ),
    (
        "promptfoo lone surrogate",
        _yaml('tests:\n  - description: one\n    vars: {input: "bad \\ud800"}\n'),
        ["pf.yaml:3: tests[0].vars.input: text with a lone surrogate \\ud800 at character 5"],
    ),
    ("promptfoo billion laughs", _yaml(BILLION_LAUGHS + TEST), ["pf.yaml:1:1: (yaml): expands to more than"]),
    ("/dev/zero", _device("/dev/zero"), ["d.jsonl: is a device or special file, not a regular file"]),
    ("/dev/urandom", _device("/dev/urandom"), ["d.jsonl: is a device or special file, not a regular file"]),
    ("fifo", _fifo, ["d.jsonl: is a FIFO, not a regular file"]),
]


@pytest.mark.parametrize(("make", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_dataset_is_refused_by_file_line_and_field(
    tmp_path: Path, make: Callable[[Path], Path], words: list[str]
) -> None:
    dataset = make(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "eval", "--profile", str(DEMO), "--dataset", str(dataset)]
        + ["--routes", "default", "--no-save", "--json"],
        capture_output=True,
        text=True,
        timeout=60,  # the FIFO blocked forever and the billion laughs ran 52 s before aborting
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    message = " ".join(proc.stderr.split())  # the panel may wrap; the words are what count
    for w in words:
        assert " ".join(w.split()) in message, message[-1500:]


def test_promptfoo_prompts_are_a_matrix_of_every_prompt_and_every_test(tmp_path: Path) -> None:
    f = tmp_path / "pf.yaml"
    f.write_text(
        "prompts:\n"
        "  - 'Answer briefly: {{q}}'\n"
        "  - {raw: 'Answer in detail: {{q}}', label: detailed}\n"
        "  - 'Q: {{q}} ({{tone}})'\n"
        "tests:\n"
        "  - description: refunds\n"
        "    vars: {q: How do refunds work?, tone: calm}\n"
        "    assert: [{type: icontains, value: refund}]\n"
        "  - vars: {q: Where is my parcel?, tone: brisk}\n"
    )
    cases = load_dataset(f).cases
    got = [(c.id, c.input, [(k.type, k.value) for k in c.checks]) for c in cases]
    refund = [("contains", "refund")]
    assert got == [
        ("refunds [prompt 1]", "Answer briefly: How do refunds work?", refund),
        ("refunds [detailed]", "Answer in detail: How do refunds work?", refund),
        ("refunds [prompt 3]", "Q: How do refunds work? (calm)", refund),
        ("test-2 [prompt 1]", "Answer briefly: Where is my parcel?", []),
        ("test-2 [detailed]", "Answer in detail: Where is my parcel?", []),
        ("test-2 [prompt 3]", "Q: Where is my parcel? (brisk)", []),
    ]


def test_a_single_prompt_keeps_the_test_names(tmp_path: Path) -> None:
    f = tmp_path / "pf.yaml"
    f.write_text("prompts: ['Say: {{q}}']\ntests:\n  - description: one\n    vars: {q: hi}\n")
    assert [(c.id, c.input) for c in load_dataset(f).cases] == [("one", "Say: hi")]


def test_the_matrix_runs_every_prompt_through_eval(tmp_path: Path) -> None:
    """End to end: 2 prompts × 2 tests on one route is 4 runs, each case labelled with its prompt."""
    f = tmp_path / "pf.yaml"
    f.write_text(
        json.dumps(
            {
                "prompts": ["Briefly: {{q}}", {"raw": "In detail: {{q}}", "label": "long"}],
                "tests": [{"description": "a", "vars": {"q": "hello"}}, {"description": "b", "vars": {"q": "hi"}}],
            }
        )
    )
    db = tmp_path / "wb.db"
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "eval", "--profile", str(DEMO), "--dataset", str(f)]
        + ["--routes", "budget", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    import sqlite3

    with sqlite3.connect(db) as conn:
        ids = sorted(r[0] for r in conn.execute("SELECT case_id FROM eval_results"))
        prompts = sorted(r[0] for r in conn.execute("SELECT prompt FROM runs WHERE prompt NOT LIKE 'Rubric%'"))
    assert ids == ["a [long]", "a [prompt 1]", "b [long]", "b [prompt 1]"]
    assert prompts == ["Briefly: hello", "Briefly: hi", "In detail: hello", "In detail: hi"]
