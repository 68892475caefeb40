"""`workbench export --profile F --route R --format native|litellm|portkey [-o FILE] [--eval ID]`.

Writes the export to FILE (or stdout) and lists what the format cannot express on stderr (for Portkey, whose
JSON has no comments, also in `FILE.warnings.txt` beside the file, with the provenance). `--eval ID` puts an eval's id, the route's
pass rate and its cost per 1,000 runs into the provenance header.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from workbench.locations import default_profile_path

if TYPE_CHECKING:
    from workbench.export import Provenance
    from workbench.profiles.load import LoadedProfile


def _provenance(loaded: LoadedProfile, route: str, eval_id: str | None, db: Path | None) -> Provenance:
    from workbench.export import Provenance

    label, sha = loaded.label, loaded.sha256
    if eval_id is None:
        return Provenance(source=label, sha256=sha)
    from workbench.eval.store import eval_route_summary

    rate, per_1k = eval_route_summary(db, eval_id, route)
    return Provenance(source=label, sha256=sha, eval_id=eval_id, pass_rate=rate, cost_per_1k_usd=per_1k)


@click.command("export")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None, help="profile file")
@click.option("--route", default=None, help="route to export (default: the profile's default route)")
@click.option(
    "--format", "fmt", type=click.Choice(["native", "litellm", "portkey"]), default="native", show_default=True
)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="write here (default: stdout)")
@click.option("--eval", "eval_id", default=None, help="eval id whose results go into the provenance header")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="session database (for --eval)")
def export(
    profile_path: Path | None,
    route: str | None,
    fmt: str,
    output: Path | None,
    eval_id: str | None,
    db: Path | None,
) -> None:
    """Export one route as a native profile, a LiteLLM proxy config or a Portkey gateway config."""
    from workbench.export import export_route
    from workbench.profiles.load import load_profile

    loaded = load_profile(profile_path or default_profile_path())
    route_name, _ = loaded.profile.route(route) if route is None or route in loaded.profile.routes else (route, None)
    provenance = _provenance(loaded, route_name, eval_id, db)
    result = export_route(loaded, route, fmt, provenance)
    if output is None:
        sys.stdout.write(result.text)
        sys.stdout.flush()
    else:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(result.text, encoding="utf-8")
        os.replace(tmp, output)
        if fmt == "portkey":  # JSON has no comments: provenance and warnings go beside the file
            lines = [*provenance.lines(result.route), "", "NOT EXPORTED (Portkey cannot express these):"]
            output.with_name(output.name + ".warnings.txt").write_text(
                "\n".join(lines) + "\n" + "".join(f"- {w}\n" for w in result.warnings), encoding="utf-8"
            )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output is not None:
        click.echo(f"wrote {output} ({fmt}, route {result.route}, {len(result.warnings)} warnings)", err=True)
