"""Plugins from another package: a provider kind, a gate check type and a tool, installed offline and used by the
real CLI in a subprocess (entry points are found through the `.dist-info` on `sys.path`, as for any install).

The fixture package (tests/fixtures/wb_echo_provider) is installed once per session into a temporary site
directory: a copy of its code, and the metadata its own build backend writes from its `pyproject.toml`
(setuptools' `egg_info`: the `entry_points.txt` that `importlib.metadata` reads, as from a wheel's `.dist-info`).
Offline and quick; `pip install --target` would do the same but needs `wheel` with the setuptools in this venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from workbench.plugins import BUILTINS

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "wb_echo_provider"

ECHO_PROFILE = """\
version: 2
name: echo-plugin
providers:
  loud: {kind: echo}
models:
  shouter:
    provider: loud
    model: echo-1
    free: true
routes:
  default:
    steps:
      - name: answer
        targets: [shouter]
      - name: loud-enough
        kind: gate
        checks:
          - type: shouted
            min_ratio: 0.9
"""


@pytest.fixture(scope="session")
def echo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory holding the installed fixture package: its code and its metadata."""
    base = tmp_path_factory.mktemp("echo-plugin")
    src, site = base / "src", base / "site"
    shutil.copytree(FIXTURE, src)
    site.mkdir()
    # the package's build backend writes its metadata (entry_points.txt from its pyproject.toml) into the site
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "egg_info", "--egg-base", str(site)],
        cwd=src,
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert (site / "wb_echo_provider.egg-info" / "entry_points.txt").is_file()
    shutil.copytree(src / "wb_echo_provider", site / "wb_echo_provider")
    return site


def workbench(*args: str, site: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = [str(site)] if site is not None else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)]), "WORKBENCH_DB": str(cwd / "wb.db")}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def test_builtins_table_equals_the_entry_points_declared_in_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert {group: declared.get(group, {}) for group in BUILTINS} == BUILTINS
    # and each names an object of the right type
    from workbench.gates import GATES
    from workbench.providers.plugin import PROVIDERS

    assert [PROVIDERS.get(kind).kind for kind in BUILTINS["workbench.providers"]] == ["openai", "anthropic", "sim"]
    assert [GATES.get(name).type for name in BUILTINS["workbench.gates"]] == list(BUILTINS["workbench.gates"])


def test_an_installed_provider_plugin_is_checked_and_serves_a_run(echo_site: Path, tmp_path: Path) -> None:
    (tmp_path / "echo.yaml").write_text(ECHO_PROFILE)
    check = workbench("profile", "check", "echo.yaml", site=echo_site, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "plugin: provider kind 'echo' from wb-echo-provider 0.1.0 (wb_echo_provider:PROVIDER)" in check.stdout
    assert "plugin: gate check type 'shouted' from wb-echo-provider 0.1.0" in check.stdout
    # a built-in name cannot be taken over (the fixture also declares `openai`); and it needs no key: no warning
    # about unset variables
    assert check.stderr.splitlines() == [
        "warning: provider kind 'openai' from wb-echo-provider 0.1.0 is ignored: 'openai' is already built in"
    ]

    run = workbench("run", "--json", "--profile", "echo.yaml", "hello plugins", site=echo_site, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    finished = events[-1]
    assert finished["type"] == "run_finished" and finished["status"] == "ok", finished
    # the answer came over the plugin's own wire format from the plugin's own server
    assert finished["output"] == "ECHO-1 SAYS: HELLO PLUGINS"
    gates = [e for e in events if e["type"] == "hop_finished" and e["kind"] == "gate" and e.get("check")]
    assert [(g["check"], g["verdict"], g["detail"]) for g in gates] == [("shouted", "pass", "100% capitals")]


def test_without_the_plugin_the_kind_is_a_profile_error_naming_the_installed_kinds(tmp_path: Path) -> None:
    (tmp_path / "echo.yaml").write_text(ECHO_PROFILE)
    check = workbench("profile", "check", "echo.yaml", site=None, cwd=tmp_path)
    assert check.returncode == 2 and "Traceback" not in check.stderr
    lines = [line.strip("│ ") for line in check.stderr.splitlines()]
    assert (
        "echo.yaml:4:16: providers.loud.kind: unknown provider kind 'echo' (installed: openai, anthropic, sim)" in lines
    )
    assert any(
        "routes.default.steps.1.checks.0.type: unknown check type 'shouted' (expected one of: contains, forbids,"
        " json, length, relevance, judge, pii)" in line
        for line in lines
    ), lines


def test_with_the_plugin_a_misspelt_kind_names_it_and_bad_options_are_profile_errors(
    echo_site: Path, tmp_path: Path
) -> None:
    (tmp_path / "p.yaml").write_text(
        ECHO_PROFILE.replace("kind: echo", "kind: ecko").replace("min_ratio: 0.9", "min_ratio: lots")
    )
    check = workbench("profile", "check", "p.yaml", site=echo_site, cwd=tmp_path)
    assert check.returncode == 2 and "Traceback" not in check.stderr
    text = " ".join(line.strip("│ ") for line in check.stderr.splitlines())
    assert "providers.loud.kind: unknown provider kind 'ecko' (installed: openai, anthropic, sim, broken, echo;" in text
    assert "did you mean 'echo'?" in text
    assert "check type 'shouted', option min_ratio: Input should be a valid number" in text


def test_the_tools_group_has_the_same_seam(echo_site: Path) -> None:
    code = (
        "import asyncio, json; from workbench.tools import TOOLS;"
        "t = TOOLS.get('reverse');"
        "print(json.dumps([TOOLS.names(), TOOLS.info('reverse').origin, t.parameters['required'],"
        " asyncio.run(t.call({'text': 'abc'}))]))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(echo_site), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [["reverse"], "wb-echo-provider 0.1.0", ["text"], "cba"]
    # and without the package, nothing is installed: an unknown tool is a one-line error naming what is
    code = "from workbench.tools import TOOLS; TOOLS.get('reverse')"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**env, "PYTHONPATH": str(ROOT)}, timeout=60
    )
    assert "PluginError: unknown tool 'reverse' (installed: none)" in out.stderr


def test_a_plugin_that_cannot_be_loaded_is_a_profile_error_not_a_traceback(echo_site: Path, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(ECHO_PROFILE.replace("kind: echo", "kind: broken"))
    check = workbench("profile", "check", "p.yaml", site=echo_site, cwd=tmp_path)
    assert check.returncode == 2 and "Traceback" not in check.stderr
    text = " ".join(line.strip("│ ") for line in check.stderr.splitlines())
    assert (
        "providers.loud.kind: provider kind 'broken' (wb-echo-provider 0.1.0, wb_echo_provider:NOT_THERE) could not"
        " be loaded: AttributeError:" in text
    ), text


def test_the_published_schema_lists_the_installed_names_and_still_accepts_a_plugins() -> None:
    import jsonschema

    from workbench.cli.profile_cmd import profile_schema

    schema = profile_schema()
    kind = schema["$defs"]["Provider"]["properties"]["kind"]
    assert kind["anyOf"] == [{"enum": ["openai", "anthropic", "sim"]}, {"type": "string"}]  # completion + escape
    provider = {"$defs": schema["$defs"], **schema["$defs"]["Provider"]}
    jsonschema.validate({"kind": "echo"}, provider)  # a kind from a plugin installed where the profile runs
    # a gate check matches exactly one member of the union: a built-in type by its model, any other by the plugin's
    check = {"$defs": schema["$defs"], **schema["$defs"]["GateStep"]["properties"]["checks"]["items"]}
    jsonschema.validate({"type": "contains", "text": "x"}, check)
    jsonschema.validate({"type": "shouted", "min_ratio": 0.5}, check)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"type": "contains", "txt": "x"}, check)  # a typo in a built-in check is still caught
