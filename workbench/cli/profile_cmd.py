"""`workbench profile check FILE`, `upgrade FILE`, `explain FILE --route R` and `schema`.

`check` validates a profile and lists every problem as FILE:LINE:COL: field: message (through ProfileError,
which the CLI wrapper prints and exits 2 on); it also warns about environment variables the profile's
providers need but this shell lacks. `schema` prints the profile JSON Schema for editors (YAML language
servers take it via a `# yaml-language-server: $schema=...` comment).
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from workbench.profiles import Profile, load_profile, missing_env, upgrade_profile

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@click.group()
def profile() -> None:
    """Validate, upgrade and explain profile files; print their JSON Schema."""


@profile.command()
@click.argument("file", type=click.Path(path_type=Path))
def check(file: Path) -> None:
    """Validate FILE; print every problem with its line, and warn about unset environment variables."""
    loaded = load_profile(file)
    prof = loaded.profile
    click.echo(
        f"ok: {file} — {_count(len(prof.providers), 'provider')}, {_count(len(prof.models), 'model')}, "
        f"{_count(len(prof.routes), 'route')}"
    )
    _plugins_used(prof)
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    for name in missing_env(prof):
        users = ", ".join(p for p, provider in prof.providers.items() if name in provider.env_refs())
        click.echo(
            f"warning: environment variable {name} is not set (needed by provider {users}); "
            "routes using it will fail until it is",
            err=True,
        )


def _plugins_used(prof: Profile) -> None:
    """One line per plugin from another package that the profile uses (provider kinds, gate check types), and a
    warning per entry point that was ignored (a name taken twice)."""
    from workbench.gates import GATES
    from workbench.plugins import Registry
    from workbench.profiles.steps import GateStep
    from workbench.providers.plugin import PROVIDERS

    registries: tuple[Registry[Any], ...] = (PROVIDERS, GATES)
    used: list[tuple[Registry[Any], str]] = [
        (PROVIDERS, kind) for kind in dict.fromkeys(p.kind for p in prof.providers.values())
    ]
    checks = (
        c.type for r in prof.routes.values() for _, st in r.all_steps() if isinstance(st, GateStep) for c in st.checks
    )
    used += [(GATES, name) for name in dict.fromkeys(checks)]
    for registry, name in used:
        info = registry.info(name)
        if info.dist is not None:
            click.echo(f"plugin: {registry.what} {name!r} from {info.origin} ({info.value})")
    for registry in registries:
        for problem in registry.problems():
            click.echo(f"warning: {problem}", err=True)


def profile_schema() -> dict[str, Any]:
    schema = Profile.model_json_schema()
    # Name the dialect pydantic generates, so validators and editors need not guess.
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, "title": "workbench profile"}


@profile.command()
def schema() -> None:
    """Print the profile JSON Schema (titles and descriptions included) for editors and validators."""
    click.echo(json.dumps(profile_schema(), indent=2))


@profile.command()
@click.argument("file", type=click.Path(path_type=Path))
def upgrade(file: Path) -> None:
    """Rewrite FILE as a version 2 profile in place, keeping its comments and key order."""
    from workbench.profiles.files import os_error_words, profile_lock
    from workbench.profiles.yaml_doc import one_problem

    try:
        with profile_lock(file) if file.exists() else nullcontext():
            upgraded = upgrade_profile(file)
    except OSError as exc:  # a full disk, a read-only folder: the file is as it was (the write is atomic)
        raise one_problem(
            str(file), (1, 1), "(file)", os_error_words(exc), hint="not upgraded; the file is unchanged"
        ) from None
    if upgraded:
        click.echo(f"upgraded: {file} is now a version 2 profile (comments and key order kept)")
    else:
        click.echo(f"ok: {file} is already a version 2 profile; nothing changed")


@profile.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--route", "route_name", default=None, help="the route to explain (default: the profile's default)")
@click.option("--json", "as_json", is_flag=True, help="print JSON for machines instead of tables")
def explain(file: Path, route_name: str | None, as_json: bool) -> None:
    """For every step and target of a route: the policy in force and where each value came from (file:line)."""
    from workbench.profiles.explain import explain_route

    report = explain_route(load_profile(file), route_name)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    for entry in report["entries"]:
        target = entry["target"]
        title = f"{entry['step']} {entry['name']} ({entry['kind']})"
        if target is not None:
            title += f" · target {target['index']}: {target['model']}"
        table = Table(title=title, box=box.SIMPLE, title_justify="left")
        table.add_column("policy", no_wrap=True)
        table.add_column("value")
        table.add_column("from", no_wrap=True)
        table.add_column("set by")
        for key, item in entry["policy"].items():
            value = item["value"]
            shown = ", ".join(map(str, value)) if isinstance(value, list) else json.dumps(value).strip('"')
            table.add_row(key, shown, item["at"] or "default", item["origin"], style="dim" if not item["at"] else None)
        console.print(table)


def _register_edit_commands() -> None:
    from workbench.cli.profile_edit_cmd import add_target, set_value

    profile.add_command(set_value)
    profile.add_command(add_target)


_register_edit_commands()
