"""What the engine caches across runs does not outlive the profile it was made from (issue 24 item 4).

A TUI that reloads its profile on each edit builds a new profile and a new engine; the resolved step policies
and the prices' JSON, cached module-wide for the hot path, used to keep every old profile (and its prices)
alive. Proved structurally: once the caller drops a profile its engine has run, weak references to it and to
its prices die, and the caches hold nothing of it."""

from __future__ import annotations

import gc
import weakref

from workbench.engine import Engine, step_policies
from workbench.engine.attempt import _price_json
from workbench.profiles.load import loads_profile

PROFILE = """\
name: reloaded-{n}
providers:
  oai: {{kind: sim, wire: openai}}
models:
  mini:
    provider: oai
    model: sim-mini
    prices: [{{input: 0.15, output: 0.60}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}
  backup:
    provider: oai
    model: sim-backup
    prices: [{{input: 0.40, output: 1.60}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 10}}
routes:
  plain: {{steps: [{{name: answer, targets: [mini, backup]}}]}}
  two: {{steps: [{{name: first, targets: [backup]}}, {{name: second, targets: [mini]}}]}}
"""


async def test_a_reloaded_profile_and_its_prices_are_freed_with_their_engine() -> None:
    refs = []
    for n in range(3):  # three edits of the profile, one engine each, as the TUI does
        loaded = loads_profile(PROFILE.format(n=n))
        async with Engine(loaded) as engine:
            for route in ("plain", "two"):
                statuses = [e.status async for e in engine.run("hello", route=route) if e.type == "run_finished"]
                assert statuses == ["ok"]
        profile = loaded.profile
        refs.append(weakref.ref(profile))
        refs.extend(weakref.ref(p) for m in profile.models.values() for p in m.prices)
        del loaded, engine, profile
    gc.collect()
    assert [r for r in refs if r() is not None] == []
    assert not any(e.profile() is None for e in step_policies._STEP_POLICIES.values())
    assert all(ref() is not None for ref, _ in _price_json.values())
