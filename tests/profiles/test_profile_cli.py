"""`workbench profile check|schema` as a user runs them: a real subprocess, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def workbench(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_demo_is_ok() -> None:
    result = workbench("profile", "check", "profiles/demo.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: profiles/demo.yaml — 2 providers, ")
    assert result.stderr == ""


def test_check_warns_about_unset_key_variables() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "profile", "check", "profiles/openai.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("ok: profiles/openai.yaml — 1 provider, ")
    assert "warning: environment variable OPENAI_API_KEY is not set (needed by provider openai)" in result.stderr
    ok = workbench("profile", "check", "profiles/openai.yaml", env={"OPENAI_API_KEY": "x"})
    assert ok.returncode == 0 and ok.stderr == ""


def test_check_broken_file_exits_2_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    text = (ROOT / "profiles" / "demo.yaml").read_text(encoding="utf-8")
    broken = text.replace("    wire: anthropic\n", "    wire: antropic\n").replace("ttft_ms: 150", "ttft_ms: quick")
    (tmp_path / "b.yaml").write_text(broken, encoding="utf-8")
    wire_line = broken.splitlines().index("    wire: antropic") + 1
    ttft_line = broken.splitlines().index("      ttft_ms: quick") + 1
    result = workbench("profile", "check", "b.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line.strip("│ ") for line in result.stderr.splitlines()]
    wire = f"b.yaml:{wire_line}:11: providers.sim-anthropic.wire: expected one of"
    assert any(line.startswith(wire) for line in lines)
    assert any(line.startswith(f"b.yaml:{ttft_line}:16: models.swift.sim.ttft_ms: expected a number") for line in lines)


def test_check_yaml_error_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "y.yaml").write_text("name: x\nproviders: [\n", encoding="utf-8")
    result = workbench("profile", "check", "y.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "y.yaml:3:1: (yaml):" in result.stderr and "Traceback" not in result.stderr
    result = workbench("profile", "check", "absent.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "absent.yaml:1:1: (file): no such file" in result.stderr


def test_schema_is_json_schema_with_properties() -> None:
    result = workbench("profile", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {"providers", "models", "routes"} <= set(schema["properties"])
    assert set(schema["required"]) == {"providers", "models", "routes"}
    assert schema["title"] and schema["description"]
    for name, definition in schema["$defs"].items():
        assert definition.get("title"), name
    # every $ref resolves inside the document
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect(schema)
    assert refs and all(r.startswith("#/$defs/") and r.split("/")[-1] in schema["$defs"] for r in refs)
    provider = schema["$defs"]["Provider"]["properties"]
    assert "environment variable" in provider["api_key_env"]["description"]


def _as_json_data(path: Path) -> object:
    """A YAML file as an editor's YAML language server sees it: JSON data, dates as the strings they are written as
    (YAML 1.2 core has no timestamp type)."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    return json.loads(json.dumps(data, default=lambda v: v.isoformat()))


def test_schema_accepts_every_shipped_profile(tmp_path: Path) -> None:
    """Issue 20 item 22: the published schema rejected every shipped profile (`targets: [swift, steady]`, the
    plain-alias shorthand the loader accepts). Every profile we ship, and both target forms, validate."""
    import jsonschema

    result = workbench("profile", "schema")
    assert result.returncode == 0, result.stderr
    validator = jsonschema.Draft202012Validator(json.loads(result.stdout))
    shipped = sorted((ROOT / "profiles").glob("*.yaml")) + [ROOT / "workbench" / "data" / "demo.yaml"]
    assert len(shipped) >= 6
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(
        "providers: {p: {kind: sim}}\n"
        "models: {m: {provider: p, model: x, free: true}, n: {provider: p, model: y, free: true}}\n"
        "routes:\n"
        "  default:\n"
        "    steps:\n"
        "      - {name: a, targets: [m, {model: n, weight: 2, retry: {max_attempts: 1}}]}\n"
        "      - {kind: parallel, name: b, targets: [m, n], merge: first}\n",
        encoding="utf-8",
    )
    assert workbench("profile", "check", str(mixed)).returncode == 0  # the loader takes it...
    for path in [*shipped, mixed]:
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(_as_json_data(path))]
        assert errors == [], f"{path.name}: {errors}"  # ...and so does the schema
    # and the schema still refuses what the loader refuses: a target that is neither an alias nor a mapping
    bad = json.loads(json.dumps(_as_json_data(mixed)))
    bad["routes"]["default"]["steps"][0]["targets"] = [3]
    assert list(validator.iter_errors(bad))
    bad["routes"]["default"]["steps"][0]["targets"] = [{"model": "m", "wieght": 2}]
    assert list(validator.iter_errors(bad))


def _provider_profile(*, url: str = "https://api.example.com/v1", headers: str = "", steps: int = 1) -> str:
    lines = "".join(f"      - {{name: s{i}, targets: [m]}}\n" for i in range(steps))
    return (
        f"providers:\n  p:\n    kind: openai\n    base_url: {url}\n    api_key_env: EXAMPLE_KEY\n"
        f"    headers: {{{headers}}}\n"
        "models: {m: {provider: p, model: x, free: true}}\n"
        f"routes:\n  default:\n    steps:\n{lines}"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _provider_profile(steps=60),
            "p.yaml:9:3: routes.default: a run of this route can execute 60 steps (its longest path, branches"
            " included), more than max_steps 50",
        ),
        (
            _provider_profile(headers="'X Team': blue"),
            "p.yaml:6:25: providers.p.headers.X Team: header 'X Team': not a valid HTTP header name",
        ),
        (
            _provider_profile(headers="'X-Team': \"a\\x07b\""),
            "p.yaml:6:25: providers.p.headers.X-Team: header 'X-Team': its value contains a control character",
        ),
        (
            _provider_profile(url="https://alice:hunter2-secret@api.example.com/v1"),
            "p.yaml:4:15: providers.p.base_url: a base_url must not carry credentials",
        ),
        (
            _provider_profile(url="api.example.com/v1"),
            "p.yaml:4:15: providers.p.base_url: expected an http:// or https:// URL with a host",
        ),
    ],
    ids=["max_steps", "header-name", "header-value", "credentials", "no-scheme"],
)
def test_check_refuses_what_every_run_would_fail_on(tmp_path: Path, text: str, expected: str) -> None:
    """Issue 20 item 25: each passed `profile check`, then failed (or was charged for a call never sent) at run
    time. Now `check` and `run` refuse the file up front, exit 2, and never show a URL's password."""
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    env = {"EXAMPLE_KEY": "sk-test", "WORKBENCH_DB": str(tmp_path / "wb.db")}
    for args in (("profile", "check", "p.yaml"), ("run", "--profile", "p.yaml", "hello")):
        result = workbench(*args, cwd=tmp_path, env=env)
        out = result.stdout + result.stderr
        assert result.returncode == 2, out
        assert expected in " ".join(out.split()), out
        assert "Traceback" not in out and "hunter2" not in out
    assert not (tmp_path / "wb.db").exists()  # no run was started, so nothing was charged or saved


def test_max_steps_counts_the_longest_branch(tmp_path: Path) -> None:
    from workbench.errors import ProfileError
    from workbench.profiles.load import loads_profile

    def route(max_steps: int) -> str:
        branch_a = "".join(f"            - {{name: a{i}, targets: [m]}}\n" for i in range(30))
        top = "".join(f"      - {{name: t{i}, targets: [m]}}\n" for i in range(19))
        return (
            "providers: {p: {kind: sim}}\nmodels: {m: {provider: p, model: x, free: true}}\n"
            f"routes:\n  default:\n    max_steps: {max_steps}\n    steps:\n{top}"
            "      - kind: route\n        name: pick\n        rules: [{when: {keywords: [long]}, branch: a}]\n"
            "        default: b\n        branches:\n          a:\n" + branch_a + "          b:\n"
            "            - {name: b0, targets: [m]}\n"
            "      - {name: last, targets: [m]}\n"
        )

    # 19 + the route step + 30 in branch `a` + `last` = 51: one over the bound on the long branch
    with pytest.raises(ProfileError) as err:
        loads_profile(route(50), "r.yaml")
    assert err.value.problems == [
        "r.yaml:5:16: routes.default.max_steps: a run of this route can execute 51 steps (its longest path, branches"
        " included), more than max_steps 50; such a run would stop there after spending (raise max_steps to at least"
        " 51, or shorten the route)"
    ]
    assert loads_profile(route(51), "r.yaml").profile.routes["default"].max_steps == 51
