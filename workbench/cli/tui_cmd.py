"""`workbench tui`: open the Textual workbench on a profile.

The profile is loaded and validated here, before the app starts: a bad profile is a ProfileError that the CLI
wrapper prints as a message (exit 2), never a half-drawn screen or a traceback. Textual is imported only after
the profile is known to be good.
"""

from __future__ import annotations

from pathlib import Path

import click

from workbench.locations import default_profile_path


@click.command()
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Profile file (YAML); default: profiles/demo.yaml in a workbench checkout, else the demo shipped with"
    " workbench. The demo profile runs offline against the embedded simulator.",
)
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    help="session database (default: $WORKBENCH_DB, else sessions/workbench.db in a workbench checkout, else ~/.local/share/workbench/workbench.db)",
)
@click.option("--session", "session_name", default=None, help="session name to file the runs under")
@click.option("--no-save", is_flag=True, help="do not save runs to the session database")
def tui(profile_path: Path | None, db: Path | None, session_name: str | None, no_save: bool) -> None:
    """Send prompts through a profile's routes and watch every hop stream in."""
    from workbench.profiles.load import load_profile

    # ProfileError propagates: the CLI wrapper prints it and exits 2
    loaded = load_profile(profile_path or default_profile_path())
    writer = None
    if not no_save:
        from workbench.cli.saving import open_writer

        writer = open_writer(db, loaded, session_name)  # StoreError here: exit 2 before the screen opens

    from workbench.cli import gc_policy
    from workbench.tui.app import make_app

    gc_policy.restore()
    try:
        from workbench.store.db import resolve_db_path

        make_app(
            loaded,
            event_sink=None if writer is None else writer.submit,
            db_path=resolve_db_path(db),
            session_name=session_name,
            set_session=None if writer is None else writer.set_session,
        ).run()
    finally:
        if writer is not None:
            writer.close()  # flushes every finished run; raises StoreError naming a rescue file if it cannot
