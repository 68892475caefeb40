"""Shared pieces of the resilience tests: a profile of misbehaving simulated models and small event helpers."""

from __future__ import annotations

from workbench.engine import Engine
from workbench.sim.behaviour import Fault
from workbench.sim.faults import draw_fault, fault_rng


def seed_failing_first(model_id: str, faults: list[dict], pattern: tuple[bool, ...]) -> int:
    """A simulator seed under which the model's first requests fail (True) or succeed (False) as `pattern` says,
    found with the simulator's documented per-request draw ("{seed}|{model}|{n}")."""
    parsed = [Fault(**f) for f in faults]
    for seed in range(10_000):
        got = tuple(draw_fault(parsed, fault_rng(seed, model_id, n + 1)) is not None for n in range(len(pattern)))
        if got == pattern:
            return seed
    raise AssertionError("no seed gives that pattern")


async def collect(engine: Engine, prompt: str, **kw) -> list:
    return [event async for event in engine.run(prompt, **kw)]


def by_type(events: list, kind: str) -> list:
    return [e for e in events if e.type == kind]


def attempts(events: list) -> list:
    return [e for e in events if e.type == "hop_finished" and e.kind == "attempt"]


def decisions(events: list, action: str | None = None) -> list:
    return [e for e in events if e.type == "decision" and (action is None or e.action == action)]
