"""`workbench profile check FILE` and `workbench profile schema`.

`check` validates a profile and lists every problem as FILE:LINE:COL: field: message (through ProfileError,
which the CLI wrapper prints and exits 2 on); it also warns about environment variables the profile's
providers need but this shell lacks. `schema` prints the profile JSON Schema for editors (YAML language
servers take it via a `# yaml-language-server: $schema=...` comment).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from workbench.profiles import Profile, load_profile, missing_env

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@click.group()
def profile() -> None:
    """Validate profile files and print their JSON Schema."""


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
    for name in missing_env(prof):
        users = ", ".join(p for p, provider in prof.providers.items() if name in provider.env_refs())
        click.echo(
            f"warning: environment variable {name} is not set (needed by provider {users}); "
            "routes using it will fail until it is",
            err=True,
        )


def profile_schema() -> dict:
    schema = Profile.model_json_schema()
    # Name the dialect pydantic generates, so validators and editors need not guess.
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, "title": "workbench profile"}


@profile.command()
def schema() -> None:
    """Print the profile JSON Schema (titles and descriptions included) for editors and validators."""
    click.echo(json.dumps(profile_schema(), indent=2))


def _register_edit_commands() -> None:
    from workbench.cli.profile_edit_cmd import add_target, set_value

    profile.add_command(set_value)
    profile.add_command(add_target)


_register_edit_commands()
