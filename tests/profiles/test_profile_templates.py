"""Templates at `profile check` (issue 20 item 3): what no run can provide is a warning with its line; what cannot
be rendered at all (an unknown filter, nesting past the parser or Python's compiler, loading other templates) is
a profile error, never a traceback."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.engine.context import StepResult
from workbench.errors import ProfileError
from workbench.profiles.load import load_profile, loads_profile
from workbench.profiles.templates import STEP_FIELDS

ROOT = Path(__file__).resolve().parents[2]

WARNED = """\
providers: {sim: {kind: sim}}
models: {m: {provider: sim, model: sim-m, free: true}}
routes:
  default:
    steps:
      - name: first
        targets: [m]
        prompt: "{{ steps.later.output }} {{ docs[0].text }} {{ metadata.tier }} {{ input }}"
      - kind: route
        name: pick
        rules: [{when: {keywords: [a]}, branch: a}]
        default: b
        branches:
          a: [{name: in_a, targets: [m]}]
          b: [{name: in_b, targets: [m], prompt: "{{ steps.in_a.output }} {{ steps.pick.branch }} {{ steps.first.outptu }}"}]
      - kind: parallel
        name: fan
        steps:
          - {name: child1, targets: [m]}
          - {name: child2, targets: [m], prompt: "{{ steps.child1.output }} {{ steps.fan.output }} {{ steps.first.output }}"}
      - name: later
        targets: [m]
        system: "{% for d in docs %}{{ d.titel }}{% endfor %}{% for t in history %}{{ t.content }}{% endfor %}"
        prompt: "{{ input.nope }} {{ input.upper() }} {{ steps.child2.output }} {{ steps.fan.output }} {{ steps.in_a.output }}"
      - kind: retrieve
        name: look
        corpus: corpus
      - kind: transform
        name: t
        template: "{{ docs[0].title }} {{ docs[0].body }} {{ steps.later.output }} {{ steps.t.output }}"
"""


def test_check_warns_about_what_no_run_can_provide(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(WARNED, encoding="utf-8")
    warnings = load_profile(path).warnings
    p = f"{path}"
    expected = [
        f"{p}:8:17: routes.default.steps.0.prompt: `steps.later` is never set when this template renders: step"
        " 'later' runs after this one",
        f"{p}:8:17: routes.default.steps.0.prompt: `docs` is always empty here: no retrieve step runs before this one",
        f"{p}:15:50: routes.default.steps.1.branches.b.0.prompt: `steps.in_a` is never set when this template"
        " renders: step 'in_a' is in another branch of route step 'pick'",
        f"{p}:15:50: routes.default.steps.1.branches.b.0.prompt: `steps.first.outptu`: a step's result has no field"
        " 'outptu' (fields: name, kind, status, output, error, reason, branch, label, score, data)",
        f"{p}:20:50: routes.default.steps.2.steps.1.prompt: `steps.child1` is never set when this template renders:"
        " 'child1' is a child of parallel step 'fan', whose children's results are not kept by name (read"
        " `steps.fan.output`)",
        f"{p}:20:50: routes.default.steps.2.steps.1.prompt: `steps.fan` is never set when this template renders:"
        " parallel step 'fan' encloses this one; its result is set only when it ends",
        f"{p}:23:17: routes.default.steps.3.system: `d.titel`: a document has no field 'titel' (fields: id, title,"
        " text, score, source)",
        f"{p}:24:17: routes.default.steps.3.prompt: `input.nope`: input is text, which has no 'nope'",
        f"{p}:24:17: routes.default.steps.3.prompt: `steps.child2` is never set when this template renders: 'child2'"
        " is a child of parallel step 'fan', whose children's results are not kept by name (read `steps.fan.output`)",
        f"{p}:30:19: routes.default.steps.5.template: `docs[0].body`: a document has no field 'body' (fields: id,"
        " title, text, score, source)",
        f"{p}:30:19: routes.default.steps.5.template: `steps.t` is never set when this template renders: that is"
        " this step itself",
    ]
    assert sorted(warnings) == sorted(expected)  # and nothing about what a run can provide (metadata, steps.in_a...)


def test_shipped_profiles_have_no_template_warnings() -> None:
    for path in [*sorted((ROOT / "profiles").glob("*.yaml")), ROOT / "workbench" / "data" / "demo.yaml"]:
        assert [w for w in load_profile(path).warnings if ".prompt:" in w or ".system:" in w] == [], path


def test_the_fields_a_warning_lists_are_step_result_fields() -> None:
    assert set(STEP_FIELDS) <= {f.name for f in dataclasses.fields(StepResult)}


BASE = "providers: {sim: {kind: sim}}\nmodels: {m: {provider: sim, model: sim-m, free: true}}\n"


def _profile(prompt: str) -> str:
    return (
        BASE + f"routes:\n  default:\n    steps:\n      - name: a\n        targets: [m]\n        prompt: {prompt!r}\n"
    )


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("{{ input|upperr }}", "template uses unknown filter 'upperr' on its line 1 (did you mean 'upper'?)"),
        ("{% if input is strng %}x{% endif %}", "template uses unknown test 'strng' on its line 1 (did you mean"),
        ("{{ input|_wb_out }}", "template uses unknown filter '_wb_out'"),
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "template is nested too deeply to read"),
        (
            "{% if 1 %}" * 120 + "x" + "{% endif %}" * 120,
            "template cannot be compiled: its blocks or expressions nest too deeply",
        ),
        ("{% include 'secrets.txt' %}", "template on its line 1 loads another template"),
        ("{% from 'x.j2' import m %}{{ m() }}", "template on its line 1 loads another template"),
    ],
    ids=["filter", "test", "internal", "parens", "blocks", "include", "import"],
)
def test_templates_that_cannot_render_are_profile_errors(prompt: str, words: str) -> None:
    with pytest.raises(ProfileError) as err:
        loads_profile(_profile(prompt), "t.yaml")
    assert len(err.value.problems) == 1 and err.value.problems[0].startswith("t.yaml:8:17: routes.default.steps.0")
    assert words in err.value.problems[0], err.value.problems[0]


def test_profile_check_on_an_unknown_filter_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(_profile("{{ input|upperr }}"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "profile", "check", "f.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "f.yaml:8:17: routes.default.steps.0.prompt: template uses unknown filter 'upperr'" in result.stderr
