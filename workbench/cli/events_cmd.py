"""`workbench events schema`: the JSON Schema of the event stream (`workbench run --json` lines)."""

from __future__ import annotations

import json

import click


@click.group()
def events() -> None:
    """The event stream's published contract."""


@events.command()
def schema() -> None:
    """Print the JSON Schema of every event type (schema_version 3; v2 lines validate too)."""
    from workbench.engine.event_schema import event_schema

    click.echo(json.dumps(event_schema(), indent=2))
