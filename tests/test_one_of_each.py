"""Names that used to clash have one home each: one EventWriter (the store's; the simulator's SSE buffer is a
FrameWriter), one money formatter (workbench.accounting.money) behind every display, and one function that
turns a profile's simulated models into simulator dials, used by the engine and by `workbench sim serve`."""

from __future__ import annotations

import ast
import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path

from workbench.accounting.money import usd
from workbench.cli.render import money
from workbench.cli.sim_cmd import behaviours_from_profile
from workbench.profiles.load import loads_profile
from workbench.profiles.simulated import sim_behaviours
from workbench.sim.plugin import SimService
from workbench.tui.fmt import usd as tui_usd

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"


def _classes() -> Counter[str]:
    names: Counter[str] = Counter()
    for path in PACKAGE.rglob("*.py"):
        if "tui" in path.relative_to(PACKAGE).parts:  # the TUI's RunState is being renamed on another branch
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names[node.name] += 1
    return names


def test_no_class_name_is_defined_twice_outside_the_tui() -> None:
    assert [name for name, n in _classes().items() if n > 1] == []


def test_every_money_display_goes_through_one_formatter() -> None:
    value = Decimal("0.000055355")
    assert usd(value) == "0.000055355"
    assert tui_usd(value) == usd(value, places=8) == "0.00005536"  # half-even at the 1e-8 dollar
    assert money(value) == usd(value, places=6, pad=True, prefix="$") == "$0.000055"
    assert usd(Decimal("-0.0012"), signed=True, prefix="$") == "-$0.0012"
    assert usd(Decimal("0E-7"), signed=True) == "0" and usd(Decimal("1E+2")) == "100"
    assert usd(0.1) == "0.1"  # a float by its shortest repr, not 0.1000000000000000055...


PROFILE = """
providers:
  s: {kind: sim}
  api: {kind: openai, base_url: "https://api.example.com/v1"}
models:
  small: {provider: s, model: sim-small, context_window: 4000, prices: [{input: 1, output: 1}]}
  dialed:
    provider: s
    model: sim-dialed
    context_window: 9000
    tokenizer: cl100k_base
    sim: {ttft_ms: 5, context_window: 2000}
  real: {provider: api, model: gpt-x}
routes:
  r: {steps: [{name: a, targets: [small]}]}
"""


def test_engine_and_sim_serve_build_the_same_simulated_models() -> None:
    loaded = loads_profile(PROFILE)
    served = sim_behaviours(loaded.profile)
    assert set(served) == {"sim-small", "sim-dialed"}
    assert served["sim-small"].context_window == 4000  # the profile's window (sim serve used to drop it)
    assert served["sim-dialed"].context_window == 2000 and served["sim-dialed"].tokenizer == "cl100k_base"
    assert served["sim-dialed"].ttft_ms == 5
    assert behaviours_from_profile(loaded.profile) == served
    # the engine's simulator is the sim plugin's service: it serves exactly these dials
    service = SimService(loaded.profile)
    service.warm()
    try:
        assert service.server is not None and service.server._models == served
    finally:
        asyncio.run(service.close())


def test_every_step_kind_of_the_profile_format_has_an_executor() -> None:
    """`Engine.check_route` trusts STEP_KINDS instead of importing the executors before the first event."""
    from workbench.engine.executors import EXECUTORS
    from workbench.profiles.steps import STEP_KINDS

    assert set(EXECUTORS) == set(STEP_KINDS)
