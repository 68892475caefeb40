"""`workbench tui`: open the Textual workbench on a profile.

The first frame comes first: the app paints its loading screen, then loads and validates the profile and opens the
session store in a thread (`WorkbenchApp.on_ready`). A bad profile or store closes the screen, and its error
(a ProfileError or StoreError) is raised here once the terminal is restored, so the CLI wrapper prints it as a
message and exits 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    from workbench.cli import gc_policy
    from workbench.tui.app import make_app

    path = profile_path or default_profile_path()
    writers: list[Any] = []

    def load() -> Any:
        """In a thread, after the first frame: the profile, then the session store (its writer)."""
        from workbench.profiles.load import load_profile
        from workbench.store.db import resolve_db_path

        loaded = load_profile(path)
        app.db_path = resolve_db_path(db)
        if not no_save:
            from workbench.cli.saving import open_writer

            writers.append(open_writer(db, loaded, session_name))
        gc_policy.restore()  # start-up is over: the normal collector from here, and what it made is frozen
        return loaded

    load.what = path.name  # type: ignore[attr-defined]  # shown on the loading screen

    def sink(event: Any) -> None:
        if writers:
            writers[0].submit(event)

    def set_session(name: str) -> None:
        if writers:
            writers[0].set_session(name)

    try:
        app = make_app(load, event_sink=sink, session_name=session_name, set_session=set_session)
        app.run()
    finally:
        gc_policy.restore()  # (a no-op once the loader has done it)
        if writers:
            writers[0].close()  # flushes every finished run; raises StoreError naming a rescue file if it cannot
    if app.load_error is not None:
        raise app.load_error  # a bad profile or store: the CLI wrapper prints it and exits 2
