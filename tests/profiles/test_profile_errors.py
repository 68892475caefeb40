"""Each way a profile can be wrong gives `FILE:LINE:COL: field.path: what (expected …)`, all problems at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import ProfileError
from workbench.profiles import MAX_PROFILE_BYTES, load_profile, loads_profile

VALID = """\
# a small valid profile; tests break one thing at a time
name: t
providers:
  local:
    kind: sim
  api:
    kind: openai
    base_url: https://api.example.com/v1
    api_key_env: EXAMPLE_KEY
models:
  fast:
    provider: local
    model: m-fast
    sim:
      ttft_ms: 1
  gpt-4.1:
    provider: api
    model: gpt-4.1
routes:
  default:
    steps:
      - name: answer
        targets: [fast, gpt-4.1]
"""


def problems_of(tmp_path: Path, text: str, name: str = "p.yaml") -> tuple[str, list[str]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.message == "\n".join(info.value.problems)
    return str(path), info.value.problems


def edit(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


def test_the_base_profile_is_valid() -> None:
    assert loads_profile(VALID).profile.route()[0] == "default"


def test_unknown_key_names_its_line_and_suggests(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("    base_url:", "    base_ulr:"))
    assert problems == [f"{f}:8:5: providers.api.base_ulr: unknown field (did you mean 'base_url'?)"]


def test_unknown_key_without_a_close_match_lists_the_fields(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("name: t\n", "name: t\ncolour: red\n"))
    assert problems == [
        f"{f}:3:1: colour: unknown field (expected one of: version, name, description, default_route, sim, "
        "providers, models, routes, policies, engine)"
    ]


def test_wrong_type_says_what_was_expected_in_plain_words(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("ttft_ms: 1", "ttft_ms: fast"))
    assert problems == [f"{f}:15:16: models.fast.sim.ttft_ms: expected a number, got 'fast'"]


def test_unknown_provider_kind_names_the_installed_kinds_and_suggests_one(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("    kind: openai", "    kind: opnai"))
    assert problems == [
        f"{f}:7:11: providers.api.kind: unknown provider kind 'opnai' (installed: openai, anthropic, sim;"
        " did you mean 'openai'?)"
    ]


def test_wrong_literal_suggests_the_allowed_value(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("    kind: openai", "    kind: openai\n    stream_usage: alway"))
    assert problems == [
        f"{f}:8:19: providers.api.stream_usage: expected one of: auto, always, never, got 'alway'"
        " (did you mean 'always'?)"
    ]


def test_missing_required_field_points_at_its_parent(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("    model: m-fast\n", ""))
    assert problems == [f"{f}:11:3: models.fast.model: required field is missing (expected text)"]


def test_unknown_model_in_a_route_target_has_its_line(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("targets: [fast, gpt-4.1]", "targets: [fast, gpt-4.2]"))
    assert problems == [
        f"{f}:23:25: routes.default.steps.0.targets.1: unknown model 'gpt-4.2' "
        "(expected one of: fast, gpt-4.1; did you mean 'gpt-4.1'?)"
    ]


def test_unknown_provider_has_its_line(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("    provider: api\n", "    provider: apl\n"))
    # the alias holds a dot ("gpt-4.1"): the path is still mapped to the right key
    assert problems == [
        f"{f}:17:15: models.gpt-4.1.provider: unknown provider 'apl' (expected one of: local, api; did you mean 'api'?)"
    ]


def test_unknown_default_route(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("name: t\n", "name: t\ndefault_route: defualt\n"))
    assert problems == [
        f"{f}:3:16: default_route: unknown route 'defualt' (expected one of: default; did you mean 'default'?)"
    ]


def test_sim_dials_only_on_sim_providers(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("    model: gpt-4.1\n", "    model: gpt-4.1\n    sim: {ttft_ms: 5}\n"))
    assert problems == [f"{f}:19:5: models.gpt-4.1.sim: only models of a `sim` provider take simulator dials"]


def test_literal_key_in_an_authorization_header_is_rejected(tmp_path: Path) -> None:
    secret = "FAKE-KEY-0123456789abcdefghij"
    f, problems = problems_of(
        tmp_path, edit("    api_key_env: EXAMPLE_KEY\n", f"    headers:\n      Authorization: Bearer {secret}\n")
    )
    assert problems == [
        f"{f}:10:22: providers.api.headers.Authorization: header 'Authorization' must reference an environment "
        "variable as ${NAME}, not hold a key"
    ]


def test_a_key_pasted_into_api_key_env_is_not_echoed(tmp_path: Path) -> None:
    secret = "FAKE-PASTED-KEY-0123456789"
    f, problems = problems_of(tmp_path, edit("api_key_env: EXAMPLE_KEY", f"api_key_env: {secret}"))
    assert len(problems) == 1
    assert problems[0].startswith(f"{f}:9:18: providers.api.api_key_env: expected an environment")
    assert "FAKE-PASTED" not in problems[0]


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("targets: [fast, gpt-4.1]", "targets: [fast, gpt-4.1"))
    assert len(problems) == 1 and problems[0].startswith(f"{f}:24:1: (yaml): expected ',' or ']'")


def test_bad_indentation_is_a_yaml_error_with_its_line(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("    model: m-fast\n", "    model: m-fast\n   oops: 1\n"))
    assert len(problems) == 1 and problems[0].startswith(f"{f}:14:4: (yaml): ")
    assert "indentation" in problems[0]


def test_duplicate_key_is_reported_at_the_second_occurrence(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("    model: m-fast\n", "    model: m-fast\n    model: again\n"))
    assert problems == [f"{f}:14:5: (yaml): duplicate key 'model' (expected each key once in a mapping)"]


def test_invalid_date_is_located(tmp_path: Path) -> None:
    prices = "    prices:\n      - {effective: 2026-13-01, input: 1, output: 2}\n"
    text = edit("    model: gpt-4.1\n", "    model: gpt-4.1\n" + prices)
    f, problems = problems_of(tmp_path, text)
    assert problems == [f"{f}:20:21: (yaml): invalid date '2026-13-01': month must be in 1..12 (expected YYYY-MM-DD)"]


def test_a_misplaced_yaml_tag_is_located(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, edit("      - name: answer", "      - !!float name: answer"))
    assert problems == [f"{f}:22:9: (yaml): YAML tag !!float does not fit here (expected no tag)"]


@pytest.mark.parametrize("key", ["{[a]: b}", "[a, b]", "[{a: 1}]", "{a: [1]}"])
def test_a_mapping_or_list_used_as_a_key_is_located(tmp_path: Path, key: str) -> None:
    f, problems = problems_of(tmp_path, edit("    model: m-fast\n", f"    model: m-fast\n    {key}: 1\n"))
    assert problems == [f"{f}:14:5: (yaml): a mapping or list used as a key (expected a name)"]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    f, problems = problems_of(tmp_path, text)
    assert problems == [f"{f}:1:1: (file): the file is empty (expected a mapping with providers, models and routes)"]


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    f, problems = problems_of(tmp_path, "# a list is not a profile\n- providers\n- models\n")
    assert problems == [f"{f}:2:1: (profile): expected a mapping with providers, models and routes, got a list"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.problems == [
        f"{path}:1:1: (file): no such file (expected a YAML profile, e.g. profiles/demo.yaml)"
    ]


def test_a_directory_is_not_a_profile(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(tmp_path)
    assert info.value.problems == [f"{tmp_path}:1:1: (file): is a directory (expected a YAML profile file)"]


def test_file_over_5_mb_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(VALID + "#" * (MAX_PROFILE_BYTES + 1), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.problems == [f"{path}:1:1: (file): 5.0 MB is too large (expected a profile under 5 MB)"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(VALID.replace("name: t", "name: caf\xe9").encode("latin-1"))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.problems == [f"{path}:2:10: (file): byte 0xe9 is not UTF-8 (expected UTF-8 text)"]


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    text = (
        VALID.replace("    kind: sim\n", "    kind: sim\n    colour: blue\n")
        .replace("ttft_ms: 1", "ttft_ms: -3")
        .replace("    model: gpt-4.1\n", "")
        .replace("      - name: answer\n", "      - name: answer\n        temperature: hot\n")
    )
    f, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{f}:6:5: providers.local.colour: unknown field (expected one of: kind, wire, base_url, api_key_env, "
        "headers, timeouts, stream_usage, max_connections, tags)",
        f"{f}:16:16: models.fast.sim.ttft_ms: expected a number at least 0, got -3",
        f"{f}:17:3: models.gpt-4.1.model: required field is missing (expected text)",
        f"{f}:23:22: routes.default.steps.0.temperature: expected a number, got 'hot'",
    ]


def test_every_cross_reference_problem_is_reported(tmp_path: Path) -> None:
    text = VALID.replace("provider: local", "provider: lokal").replace("[fast, gpt-4.1]", "[fats, gpt-4.1, nope]")
    f, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{f}:12:15: models.fast.provider: unknown provider 'lokal' "
        "(expected one of: local, api; did you mean 'local'?)",
        f"{f}:23:19: routes.default.steps.0.targets.0: unknown model 'fats' "
        "(expected one of: fast, gpt-4.1; did you mean 'fast'?)",
        f"{f}:23:34: routes.default.steps.0.targets.2: unknown model 'nope' (expected one of: fast, gpt-4.1)",
    ]


def test_loads_profile_names_the_given_path_or_a_placeholder() -> None:
    with pytest.raises(ProfileError) as info:
        loads_profile("name: [")
    assert info.value.problems[0].startswith("<string>:")
    with pytest.raises(ProfileError) as info:
        loads_profile("name: [", path="virtual/p.yaml")
    assert info.value.problems[0].startswith("virtual/p.yaml:")


def test_alias_bombs_are_refused_quickly(tmp_path: Path) -> None:
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=False):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    f, problems = problems_of(tmp_path, "\n".join(lines) + "\n")
    assert problems == [f"{f}:1:1: (yaml): expands to more than 200000 values (expected no alias-of-alias expansion)"]


def test_a_large_profile_without_aliases_is_no_alias_bomb() -> None:
    """Issue 20 item 25: a 60,000-model profile written out in full was refused as an alias bomb (every value
    counted against the alias budget). Only what aliases add counts: the same document as the loader builds it,
    60,000 models (420,000 values), becomes plain data; a modest anchor reused a thousand times does too."""
    from ruamel.yaml.comments import CommentedMap

    from workbench.profiles.yaml_doc import MAX_NODES, plain

    models = CommentedMap()
    for i in range(60_000):
        models[f"m{i}"] = CommentedMap(provider="p", model=f"sim-m{i}", free=True)
    doc = CommentedMap(providers=CommentedMap(p=CommentedMap(kind="sim")), models=models)
    data = plain(doc, [MAX_NODES])
    assert len(data["models"]) == 60_000 and data["models"]["m59999"] == {
        "provider": "p",
        "model": "sim-m59999",
        "free": True,
    }
    # an anchor reused: each use is a copy and counts (1,000 uses of 5 values: far under the bound)
    dials = CommentedMap(ttft_ms=0, tokens_per_s=100, answer_tokens=5, faults=[])
    reused = CommentedMap((f"m{i}", CommentedMap(provider="p", model="x", sim=dials)) for i in range(1000))
    assert plain(CommentedMap(models=reused), [MAX_NODES])["models"]["m999"]["sim"]["tokens_per_s"] == 100
    # and copies still count: the same anchor used 50,000 times is over the bound
    many = CommentedMap((f"m{i}", CommentedMap(sim=dials)) for i in range(50_000))
    with pytest.raises(Exception, match="expands to more than 200000 values"):
        plain(CommentedMap(models=many), [MAX_NODES])
