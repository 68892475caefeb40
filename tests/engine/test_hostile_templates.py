"""Hostile prompt templates through real runs (issue 20 items 3 and 4).

Every template below passes `profile check` (it names only run-context values and real filters) and fails when a
run renders it. On a generate step that used to be a traceback out of the engine: no `run_finished`, the run not
saved, the first step's spend lost. Now each is a classified step error (`error_class: template`), the run ends
`error` with what the first step spent, and the store keeps it. CPU-bound templates (nested loops, huge ranges,
string doubling, giant powers) stop within the render's bounds instead of holding the event loop for minutes.

The demo profile (its simulator, its priced `steady` model, dialled to answer at once) gets a `hostile` route:
`first` (a normal call that spends) -> `second` (the hostile template) -> `third` (never reached).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from workbench.engine import Engine
from workbench.locations import PACKAGED_DEMO
from workbench.profiles.load import LoadedProfile, loads_profile, save_profile
from workbench.profiles.simulated import sim_behaviours
from workbench.sim.server import SimServer
from workbench.store.writer import EventWriter

ROOT = Path(__file__).resolve().parents[2]
LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"  # 10**10 iterations

# (field, template, words the step's error must contain)
HOSTILE: list[tuple[str, str, str]] = [
    # names a run may or may not provide
    ("prompt", "{{ metadata.tier }}", "metadata has no key 'tier'"),
    ("system", "Tier: {{ metadata['tier'] }}", "metadata has no key 'tier'"),
    ("prompt", "{{ steps.third.output }}", "steps has no 'third'"),
    ("prompt", "{{ steps.first.nope }}", "has no attribute 'nope'"),
    ("prompt", "{{ docs[0].text }}", "has no element 0"),
    ("system", "{{ history[5].content }}", "has no element 5"),
    ("prompt", "{{ input.nope }}", "has no attribute 'nope'"),
    # filters that exist, used wrongly
    ("prompt", "{{ input|round }}", "TypeError"),
    ("prompt", "{{ input|wordwrap(0) }}", "invalid width"),
    ("prompt", "{{ input|format(1, 2) }}", "not all arguments converted"),
    ("prompt", "{{ input|map('nosuch')|list }}", "No filter named 'nosuch'"),
    ("prompt", "{{ history|dictsort }}", "AttributeError"),
    ("prompt", "{{ [1, 'a']|sort }}", "not supported between"),
    ("prompt", "{{ input|truncate(-1) }}", "expected length >= 3"),
    # arithmetic
    ("prompt", "{{ 1 / 0 }}", "division by zero"),
    ("system", "{{ 7 % 0 }}", "division by zero"),
    ("prompt", "{{ input|length // (metadata|length) }}", "division by zero"),
    ("prompt", "{{ docs|sum(attribute='score') + input }}", "unsupported operand"),
    # the sandbox: private attributes, mutation
    ("prompt", "{{ input.__class__.__mro__[1].__subclasses__() }}", "refused by the sandbox"),
    ("prompt", "{{ cycler.__init__.__globals__ }}", "refused by the sandbox"),
    ("system", "{{ '{0.__class__}'.format(input) }}", "refused by the sandbox"),
    ("prompt", "{{ input|attr('__class__') }}", "refused by the sandbox"),
    ("prompt", "{{ metadata.update(tier='gold') }}", "refused by the sandbox"),
    # recursion
    ("prompt", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursed too deeply"),
    ("prompt", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursed too deeply"),
    # CPU and memory: bounded, refused before the work
    ("prompt", LOOPS, "more than 1,000,000 operations"),
    ("system", "{% for i in range(100000) %}{% for c in input %}{{ c }}{% endfor %}{% endfor %}", "operations"),
    ("prompt", "{{ range(1000000)|list }}", "Range too big"),
    ("prompt", "{{ 'x' * 1000000000 }}", "a repetition would build 1,000,000,000"),
    ("prompt", "{{ 2 ** 1000000000 }}", "a power of more than"),
    ("prompt", "{{ '%999999999s' % input }}", "999,999,999 characters wide"),
    ("prompt", "{{ input|center(999999999) }}", "the filter 'center' was given 999,999,999"),
    (
        "prompt",
        "{% set ns = namespace(x=input) %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x }}",
        "it built a value of",
    ),
]


@functools.cache
def _demo() -> LoadedProfile:
    return loads_profile(PACKAGED_DEMO.read_text(encoding="utf-8"))


def hostile_profile(field: str, template: str, tmp: Path) -> LoadedProfile:
    """The demo profile with a `hostile` route; loading it is `profile check`: the template passes."""
    demo = _demo()
    steps: list[dict[str, Any]] = [
        {"name": "first", "targets": ["steady"]},
        {"name": "second", "targets": ["steady"], field: template},
        {"name": "third", "targets": ["steady"]},
    ]
    text = save_profile(
        demo,
        {
            ("models", "steady", "sim", "ttft_ms"): 0,
            ("models", "steady", "sim", "tokens_per_s"): 100000,
            ("routes", "hostile"): {"steps": steps},
        },
    )
    path = tmp / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    return loads_profile(text, path)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo's simulated models with the dials of the hostile profile (`steady` answering at once)."""
    dialled = hostile_profile("prompt", "{{ input }}", tmp_path_factory.mktemp("sim"))
    server = SimServer(sim_behaviours(dialled.profile), seed=7)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(("field", "template", "words"), HOSTILE, ids=[f"{i:02d}" for i in range(len(HOSTILE))])
async def test_a_hostile_template_is_a_step_error_and_the_run_is_saved(
    tmp_path: Path, sim: SimServer, field: str, template: str, words: str
) -> None:
    loaded = hostile_profile(field, template, tmp_path)
    db = tmp_path / "wb.db"
    writer = EventWriter(db, session="hostile", profile=loaded)
    events: list[Any] = []
    t0 = time.monotonic()
    async with Engine(loaded, sim_server=sim) as engine:
        async for event in engine.run("Why is the sky blue?", route="hostile"):
            events.append(event)
            writer.submit(event)
    elapsed = time.monotonic() - t0
    assert await asyncio.to_thread(writer.flush, 10)
    writer.close()

    end = events[-1]
    assert end.type == "run_finished" and end.status == "error"
    assert f"step 'second': the {field} template failed" in end.error and words in end.error, end.error
    assert "\n" not in end.error  # one line
    hops = [e for e in events if e.type == "hop_finished"]
    second = [h for h in hops if h.name == "second"]
    assert len(second) == 1 and second[0].error_class == "template" and second[0].status == "error"
    # nothing was sent for `second`, and `third` never ran: the only call is `first`'s
    attempts = [h for h in hops if h.kind == "attempt"]
    assert [(h.model, h.status) for h in attempts] == [("steady", "ok")]
    first_cost = attempts[0].cost_usd
    assert first_cost > 0 and end.cost_usd == first_cost
    assert elapsed < 20  # bounded work: seconds at most on a loaded machine, not minutes

    con = sqlite3.connect(db)
    try:
        status, cost_exact, error = con.execute("SELECT status, cost_exact, error FROM runs").fetchone()
        classes = dict(con.execute("SELECT name, error_class FROM hops WHERE kind = 'step'").fetchall())
    finally:
        con.close()
    assert status == "error" and Decimal(cost_exact) == Decimal(str(end.cost["total"])) > 0
    assert words in error
    assert classes == {"first": None, "second": "template"}


async def test_a_run_that_gives_the_metadata_succeeds(tmp_path: Path, sim: SimServer) -> None:
    """The same kind of template works when the run provides what it names."""
    loaded = hostile_profile("prompt", "Tier {{ metadata.tier }}: {{ input }}", tmp_path)
    async with Engine(loaded, sim_server=sim) as engine:
        events = [e async for e in engine.run("hi", route="hostile", metadata={"tier": "gold"})]
    assert events[-1].status == "ok"
    assert len([e for e in events if e.type == "hop_finished" and e.kind == "attempt"]) == 3


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_run_cli_saves_the_run_and_says_which_step_and_line(tmp_path: Path) -> None:
    """`workbench run` as the user met it: `{{ metadata.tier }}` without --meta was a traceback and no run saved."""
    loaded = hostile_profile("prompt", "Answer for tier {{ metadata.tier }}:\n{{ input }}", tmp_path)
    assert loaded.path is not None
    db = tmp_path / "wb.db"
    result = _cli("run", "--profile", str(loaded.path), "--route", "hostile", "--db", str(db), "hi", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "step 'second': the prompt template failed on its line 1: metadata has no key 'tier'" in " ".join(
        (result.stdout + result.stderr).split()
    )
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT status, cost_usd FROM runs").fetchall()
    finally:
        con.close()
    assert len(rows) == 1 and rows[0][0] == "error" and rows[0][1] > 0


def test_sigint_during_a_nested_loop_template_is_honoured_promptly(tmp_path: Path) -> None:
    """A 10**10-iteration template used to hold the event loop (Ctrl-C ignored for as long as it ran). The signal
    is sent as the template starts rendering (right after `first` finished); the process ends within seconds,
    saved, no traceback: 130 when the signal landed during the run, 1 when the template's bound ended it first."""
    loaded = hostile_profile("prompt", LOOPS, tmp_path)
    assert loaded.path is not None
    db = tmp_path / "wb.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "run", "--profile", str(loaded.path), "--route", "hostile"]
        + ["--json", "--db", str(db), "go"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # an event, not a sleep: `first` is done, `second` renders next
            event = json.loads(line)
            if event["type"] == "hop_finished" and event.get("kind") == "step" and event.get("name") == "first":
                break
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 15, took
    assert proc.returncode in (128 + signal.SIGINT, 1), err
    assert "Traceback" not in err
    con = sqlite3.connect(db)
    try:
        (status,) = con.execute("SELECT status FROM runs").fetchone()
    finally:
        con.close()
    assert status in ("cancelled", "error")


@pytest.mark.parametrize("kind", ["retrieve", "transform"])
async def test_other_step_kinds_report_a_template_error_alike(tmp_path: Path, sim: SimServer, kind: str) -> None:
    """A retrieve step's query and a transform's template fail the same way: class `template`, run saved."""
    corpus = PACKAGED_DEMO.parent / "corpus" / "support"
    step: dict[str, Any] = (
        {"kind": "retrieve", "name": "second", "corpus": str(corpus), "query": "{{ metadata.tier }}"}
        if kind == "retrieve"
        else {"kind": "transform", "name": "second", "template": "{{ 1 / 0 }}"}
    )
    text = save_profile(
        _demo(),
        {
            ("models", "steady", "sim", "ttft_ms"): 0,
            ("models", "steady", "sim", "tokens_per_s"): 100000,
            ("routes", "hostile"): {"steps": [{"name": "first", "targets": ["steady"]}, step]},
        },
    )
    loaded = loads_profile(text, tmp_path / "k.yaml")
    async with Engine(loaded, sim_server=sim) as engine:
        events = [e async for e in engine.run("Why is the sky blue?", route="hostile")]
    hop = [e for e in events if e.type == "hop_finished" and e.name == "second"][0]
    label = "query template" if kind == "retrieve" else "template"
    assert hop.kind == kind and hop.status == "error" and hop.error_class == "template"
    assert hop.error.startswith(f"step 'second': the {label} failed on its line 1: ")
    assert events[-1].status == "error" and events[-1].cost_usd > 0


ORDINARY = [
    "{{ 'Order %d' % 123456789 }} {{ 'Ref %s-%08d'|format('A', 1234) }}",
    "{{ 'Order {} of {:,}'.format(input, 1234567890) }} {{ input.split(' ', 123456789) }} {{ 2 ** 64 }}",
    "{% for d in docs %}[{{ loop.index }}] {{ d.title }} ({{ '%.2f'|format(d.score) }})\n{{ d.text|truncate(300) }}\n"
    "{% endfor %}{% for t in history[-20:] %}{{ t.role }}: {{ t.content }}\n{% endfor %}{{ input|upper }}",
    "{% for i in range(1000) %}{{ i }},{% endfor %} {{ range(10)|sum }} {{ ('ab' * 1000)|length }}",
]


@pytest.mark.parametrize("template", ORDINARY)
def test_the_bounds_leave_ordinary_templates_alone(template: str) -> None:
    """What a prompt normally does (big numbers in formats, a loop over 100 documents and the history, a
    thousand-item range) renders exactly as Jinja2's own sandbox renders it."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from workbench.profiles.templates import render

    context = {
        "input": "why is the sky blue",
        "history": [{"role": "user", "content": f"turn {i}"} for i in range(40)],
        "docs": [
            {"id": f"d{i}", "title": f"Doc {i}", "text": "blue light scatters " * 40, "score": 0.5} for i in range(100)
        ],
        "steps": {},
        "metadata": {},
        "feedback": "",
    }
    plain = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    assert render(template, context) == plain.from_string(template).render(**context)
