"""Native export: a self-contained profile that loads back and makes the same decisions on the simulator."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.export import export_route
from workbench.profiles.load import load_profile, loads_profile

DEMO = Path(__file__).resolve().parents[2] / "profiles" / "demo.yaml"

TWO_STEP = """\
name: two-step
sim: {seed: 11}
providers:
  oai: {kind: sim, wire: openai, api_key_env: SIM_TEST_KEY}
  ant: {kind: sim, wire: anthropic}
models:
  flaky:
    provider: oai
    model: sim-flaky
    prices: [{input: 0.15, output: 0.6}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20, faults: [{kind: http_503, rate: 0.5}]}
  solid:
    provider: ant
    model: sim-solid
    prices: [{input: 3, output: 15}]
    sim: {ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 25}
  unused:
    provider: oai
    model: sim-unused
    prices: [{input: 1, output: 1}]
policies:
  retry: {max_attempts: 1}
routes:
  main:
    steps:
      - {name: draft, targets: [flaky, solid]}
      - {name: polish, targets: [{model: solid, temperature: 0.2}], system: "Polish: {{ input }}"}
  other: {steps: [{name: a, targets: [unused]}]}
"""


async def _trace(loaded, route: str, prompt: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    from workbench.engine import Engine, health
    from workbench.engine.events import Decision, HopFinished, RunFinished

    health.reset()  # each profile starts as a fresh process would: no breaker state carried over from the other
    seq: list[tuple] = []
    async with Engine(loaded) as engine:
        async for ev in engine.run(prompt, route=route):
            if isinstance(ev, Decision):
                seq.append(("decision", str(ev.action), ev.target))
            elif isinstance(ev, HopFinished) and ev.kind == "attempt":
                seq.append(("attempt", ev.model, ev.model_id, str(ev.status)))
            elif isinstance(ev, RunFinished):
                seq.append(("run", str(ev.status), ev.output))
    return seq


@pytest.mark.parametrize(("text", "route"), [(None, "default"), (None, "fallback"), (TWO_STEP, "main")])
async def test_native_export_loads_back_and_decides_the_same(tmp_path: Path, text: str | None, route: str) -> None:
    source = load_profile(DEMO) if text is None else loads_profile(text, tmp_path / "src.yaml")
    result = export_route(source, route, "native")
    out = tmp_path / "exported.yaml"
    out.write_text(result.text)
    exported = load_profile(out)
    assert list(exported.profile.routes) == [route] and exported.profile.default_route == route
    # only what the route uses
    used = {t.model for s in source.profile.routes[route].steps for t in s.targets}
    assert set(exported.profile.models) == used
    assert f"source profile sha256: {source.sha256}" in result.text.splitlines()[1]
    assert hashlib.sha256(source.text.encode()).hexdigest() == source.sha256
    for prompt in ("Why is the sky blue?", "How do I reset my password?", "Compare SQLite and Postgres"):
        a = await _trace(source, route, prompt)
        b = await _trace(exported, route, prompt)
        assert a == b
        assert any(step[0] == "attempt" for step in a)
    if route == "fallback":  # the fallback is in the trace, so "same decisions" compared something real
        assert ("decision", "fallback", "steady") in a


def test_native_export_names_env_vars_never_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_TEST_KEY", "FAKE-LIVE-KEY-DO-NOT-LEAK-123456")
    source = loads_profile(TWO_STEP, tmp_path / "src.yaml")
    for fmt in ("native", "litellm", "portkey"):
        text = export_route(source, "main", fmt).text
        assert "DO-NOT-LEAK" not in text
    assert "api_key_env: SIM_TEST_KEY" in export_route(source, "main", "native").text
    assert "unused" not in export_route(source, "main", "native").text


def test_export_cli_writes_file_and_warnings(tmp_path: Path) -> None:
    out = tmp_path / "pk.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "export",
            "--profile",
            str(DEMO),
            "--route",
            "frontier",
            "--format",
            "portkey",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning: route 'frontier' step 'answer': the system prompt" in proc.stderr
    side = (tmp_path / "pk.json.warnings.txt").read_text()
    assert side.count("\n- ") >= 1 and "source profile sha256: " in side
    bad = subprocess.run(
        [sys.executable, "-m", "workbench", "export", "--profile", str(DEMO), "--route", "nope", "--format", "litellm"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "nope" in bad.stderr and "Traceback" not in bad.stderr
