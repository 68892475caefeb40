"""`workbench serve`: the same Textual app in a web browser, through textual-serve, on loopback by default.

Each browser tab gets its own `workbench tui` process (textual-serve runs the command per session), so the web
view is exactly the terminal app, keys and all. It binds 127.0.0.1 unless `--host` says otherwise: the app can
spend money on real providers, so exposing it is a deliberate choice.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


@click.command()
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None, help="profile to open")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind (loopback by default)")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="port to listen on")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="session database for the served app")
def serve(profile_path: Path | None, host: str, port: int, db: Path | None) -> None:
    """Serve the workbench TUI in a browser (textual-serve); prints the URL."""
    from workbench.errors import WorkbenchError

    try:
        from textual_serve.server import Server
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise WorkbenchError(f"textual-serve is not installed: {exc}", hint="pip install textual-serve") from None
    parts = [sys.executable, "-m", "workbench", "tui"]
    if profile_path is not None:
        if not profile_path.is_file():
            raise WorkbenchError(f"{profile_path}: no such profile file")
        parts += ["--profile", str(profile_path.resolve())]
    if db is not None:
        parts += ["--db", str(db.resolve())]
    command = " ".join(shlex.quote(p) for p in parts)
    url = f"http://{host}:{port}"
    click.echo(f"workbench is served at {url} (Ctrl-C stops it)", err=True)
    server = Server(command, host=host, port=port, title="workbench", public_url=url)
    server.serve()
