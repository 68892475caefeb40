"""`workbench sim serve`: run the embedded simulator in the foreground, for SDKs, curl or another workbench.

With `--profile`, it serves the dials of the profile's simulated models (by their wire model ids) and answers
404 for other names; without one it answers any model name with the default behaviour.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from workbench.profiles.models import Profile
    from workbench.sim.behaviour import SimBehaviour
    from workbench.sim.server import SimServer


def behaviours_from_profile(profile: Profile) -> dict[str, SimBehaviour]:
    """Wire model id -> dials, exactly as the engine's embedded simulator serves them."""
    from workbench.profiles.simulated import sim_behaviours

    return sim_behaviours(profile)


@click.group()
def sim() -> None:
    """The embedded LLM simulator (OpenAI and Anthropic wire formats, offline)."""


@sim.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port")
@click.option("--seed", default=None, type=int, help="answers and faults repeat for the same seed [default: 7]")
@click.option(
    "--profile",
    "profile_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="serve this profile's simulated models with their dials",
)
def serve(host: str, port: int, seed: int | None, profile_path: str | None) -> None:
    """Serve the simulator until Ctrl-C."""
    from workbench.sim.server import SimServer

    models: dict[str, SimBehaviour] | None = None
    if profile_path is not None:
        from workbench.profiles.load import load_profile

        profile = load_profile(profile_path).profile
        models = behaviours_from_profile(profile)
        if seed is None:
            seed = profile.sim.seed
    server = SimServer(models, seed=7 if seed is None else seed, host=host, port=port)
    server.serve_forever(on_ready=_announce)
    click.echo("simulator stopped")


def _announce(server: SimServer) -> None:
    url = server.base_url
    click.echo(f"workbench simulator listening on {url}  (seed {server.seed})")
    click.echo(f'  OpenAI SDK:    OpenAI(base_url="{url}/v1", api_key="any")')
    click.echo(f'  Anthropic SDK: Anthropic(base_url="{url}", api_key="any")')
    models = server.models
    if models:
        click.echo("  models: " + ", ".join(sorted(models)))
    else:
        click.echo("  models: any name (default behaviour)")
    click.echo("Press Ctrl-C to stop.", nl=True)
    sys.stdout.flush()  # click.get_text_stream is deprecated (click 8.5) and untyped through its lazy export
