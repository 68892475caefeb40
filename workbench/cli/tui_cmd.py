"""`workbench tui`: open the Textual workbench on a profile.

The profile is loaded and validated here, before the app starts: a bad profile is a ProfileError that the CLI
wrapper prints as a message (exit 2), never a half-drawn screen or a traceback. Textual is imported only after
the profile is known to be good.
"""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_PROFILE = Path("profiles/demo.yaml")


@click.command()
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PROFILE,
    show_default=True,
    help="Profile file (YAML). The demo profile runs offline against the embedded simulator.",
)
def tui(profile_path: Path) -> None:
    """Send prompts through a profile's routes and watch every hop stream in."""
    from workbench.profiles.load import load_profile

    loaded = load_profile(profile_path)  # ProfileError propagates: the CLI wrapper prints it and exits 2

    from workbench.tui.app import make_app

    make_app(loaded).run()
