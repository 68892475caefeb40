"""Every shipped profile in profiles/ loads, round-trips byte for byte, and says what the brief promises."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from workbench.accounting.prices import select_price
from workbench.profiles import load_profile, loads_profile, missing_env, save_profile

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
SHIPPED = sorted(PROFILES.glob("*.yaml"))
PRICE_DAY = dt.date(2026, 11, 25)


def test_the_expected_profiles_ship() -> None:
    names = {p.name for p in SHIPPED}
    assert {"demo.yaml", "openai.yaml", "anthropic.yaml", "gemini.yaml", "local-openai-compatible.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_profile_loads_and_every_model_is_priced(path: Path) -> None:
    loaded = load_profile(path)
    assert loaded.path == path
    assert loaded.text == path.read_text(encoding="utf-8")
    profile = loaded.profile
    assert profile.default_route in profile.routes
    for alias, model in profile.models.items():
        price = select_price(model.prices, PRICE_DAY)
        assert price is not None, f"{alias} has no price in force"
        assert price.source, f"{alias}: price without a source"
        assert price.effective == dt.date(2026, 11, 1)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_profile_survives_a_rewrite_byte_for_byte(path: Path, tmp_path: Path) -> None:
    dest = tmp_path / path.name
    text = save_profile(load_profile(path), {}, dest=dest)
    assert text == path.read_text(encoding="utf-8")
    assert dest.read_bytes() == path.read_bytes()


def test_sha256_is_of_the_exact_text() -> None:
    import hashlib

    loaded = load_profile(PROFILES / "demo.yaml")
    assert loaded.sha256 == hashlib.sha256((PROFILES / "demo.yaml").read_bytes()).hexdigest()
    assert loads_profile(loaded.text).sha256 == loaded.sha256
    assert loads_profile(loaded.text + "\n").sha256 != loaded.sha256


def test_demo_is_offline_and_shows_routing_fallback_and_cost() -> None:
    profile = load_profile(PROFILES / "demo.yaml").profile
    assert {p.kind for p in profile.providers.values()} == {"sim"}
    assert {p.wire_format for p in profile.providers.values()} == {"openai", "anthropic"}
    assert missing_env(profile, environ={}) == []
    assert list(profile.routes)[:1] == ["default"] and profile.default_route == "default"
    assert {"default", "fallback", "frontier", "budget"} <= set(profile.routes)

    def faults(alias: str) -> dict[str, float]:
        sim = profile.models[alias].sim
        assert sim is not None
        return {f.kind: f.rate for f in sim.faults}

    # default: the primary fails sometimes and has a fallback; fallback: the primary always fails.
    default_targets = profile.routes["default"].steps[0].targets
    default_targets = [t.model for t in default_targets]
    assert len(default_targets) >= 2 and 0 < faults(default_targets[0]).get("http_503", 0) < 1
    assert faults(default_targets[1]) == {}
    fallback_targets = [t.model for t in profile.routes["fallback"].steps[0].targets]
    assert faults(fallback_targets[0]) == {"http_503": 1.0} and faults(fallback_targets[1]) == {}
    # frontier: the anthropic-wire model first, an openai-wire model behind it.
    first, backup = [t.model for t in profile.routes["frontier"].steps[0].targets[:2]]
    assert profile.providers[profile.models[first].provider].wire_format == "anthropic"
    assert profile.providers[profile.models[backup].provider].wire_format == "openai"
    assert profile.routes["budget"].max_cost_usd is not None
    for alias, model in profile.models.items():
        sim = model.sim
        assert sim is not None, alias
        assert 150 <= sim.ttft_ms <= 600 and 40 <= sim.tokens_per_s <= 120 and 60 <= sim.answer_tokens <= 120
        assert 0.2 < (sim.ttft_ms / 1000 + sim.answer_tokens / sim.tokens_per_s) < 3.5
    # priced like the models they imitate
    swift = select_price(profile.models["swift"].prices, PRICE_DAY)
    sage = select_price(profile.models["sage"].prices, PRICE_DAY)
    assert swift is not None and (swift.input, swift.output) == (Decimal("0.15"), Decimal("0.60"))
    assert sage is not None and (sage.input, sage.output) == (Decimal("3.00"), Decimal("15.00"))


def test_vendor_profiles_name_their_key_variables() -> None:
    expected = {
        "openai.yaml": ["OPENAI_API_KEY"],
        "anthropic.yaml": ["ANTHROPIC_API_KEY"],
        "gemini.yaml": ["GEMINI_API_KEY"],
        "local-openai-compatible.yaml": [],
    }
    for name, env in expected.items():
        profile = load_profile(PROFILES / name).profile
        assert missing_env(profile, environ={}) == env
        assert missing_env(profile, environ={n: "set" for n in env}) == []


def test_vendor_prices_and_tiers() -> None:
    haiku = load_profile(PROFILES / "anthropic.yaml").profile.models["claude-haiku-4-5"]
    rates = select_price(haiku.prices, PRICE_DAY).base_rates()  # type: ignore[union-attr]
    assert (rates.input, rates.cache_write_5m, rates.cache_write_1h, rates.cached_input, rates.output) == tuple(
        Decimal(x) for x in ("1.00", "1.25", "2.00", "0.10", "5.00")
    )
    pro = load_profile(PROFILES / "gemini.yaml").profile.models["gemini-2.5-pro"]
    price = select_price(pro.prices, PRICE_DAY)
    assert price is not None and price.tiers[0].above_input_tokens == 200_000
    assert price.tier_rates(0).input == Decimal("2.50")
    local = load_profile(PROFILES / "local-openai-compatible.yaml").profile
    assert {p.base_url for p in local.providers.values()} == {"http://localhost:11434/v1", "http://localhost:8000/v1"}
    assert all(select_price(m.prices, PRICE_DAY).is_free for m in local.models.values())  # type: ignore[union-attr]


def test_missing_env_covers_header_references() -> None:
    text = (
        (PROFILES / "local-openai-compatible.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "    base_url: http://localhost:8000/v1\n",
            "    base_url: http://localhost:8000/v1\n    headers: {Authorization: 'Bearer ${VLLM_TOKEN}'}\n",
        )
    )
    profile = loads_profile(text).profile
    assert missing_env(profile, environ={}) == ["VLLM_TOKEN"]
    assert missing_env(profile, environ={"VLLM_TOKEN": ""}) == ["VLLM_TOKEN"]  # empty counts as missing
    assert missing_env(profile, environ={"VLLM_TOKEN": "t"}) == []
