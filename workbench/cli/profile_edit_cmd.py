"""`workbench profile set FILE PATH VALUE` and `workbench profile add-target FILE ROUTE STEP MODEL [--at N]`.

The headless twin of the route composer: the same `ProfileEditor` makes the same edit, validated with the same
messages as `workbench profile check`, keeping every comment and the key order. `--dry-run` prints the diff
and writes nothing; otherwise the diff goes to stderr and the file is written (a `.bak` of the previous
version is kept beside it).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import click


def _locked(file: Path, dry_run: bool) -> AbstractContextManager[None]:
    """The profile's edit lock around read, edit and write, so a concurrent edit is not lost (a dry run only
    reads: no lock, and so no lock file)."""
    from workbench.profiles.files import profile_lock

    return nullcontext() if dry_run or not file.exists() else profile_lock(file)


def _finish(editor: object, dry_run: bool, backup: bool) -> None:
    from workbench.profiles.edit import ProfileEditor

    assert isinstance(editor, ProfileEditor)
    diff = editor.diff()
    if dry_run:
        sys.stdout.write(diff)
        return
    if not editor.modified:
        click.echo(f"{editor.path}: unchanged (the value was already set)", err=True)
        return
    sys.stderr.write(diff)
    editor.save(backup=backup)
    kept = f" (previous version in {editor.backup_path})" if editor.backup_path is not None else ""
    click.echo(f"saved {editor.path}{kept}", err=True)


@click.command("set")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("path")
@click.argument("value")
@click.option("--dry-run", is_flag=True, help="Print the diff; write nothing.")
@click.option("--no-backup", is_flag=True, help="Do not keep FILE.bak.")
def set_value(file: Path, path: str, value: str, dry_run: bool, no_backup: bool) -> None:
    """Set PATH (dotted; steps by name or index) to VALUE (YAML: 0.6, true, [a, b], {k: v}) in FILE.

    Example: workbench profile set profiles/demo.yaml routes.default.steps.answer.targets "[steady, swift]"
    """
    from workbench.profiles.edit import ProfileEditor, parse_value

    with _locked(file, dry_run):
        editor = ProfileEditor.open(file)
        editor.set(path, parse_value(value))
        _finish(editor, dry_run, not no_backup)


@click.command("add-target")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("route")
@click.argument("step")
@click.argument("model")
@click.option("--at", "at", type=int, default=None, help="Position in the fallback chain (0 = primary); default last.")
@click.option("--dry-run", is_flag=True, help="Print the diff; write nothing.")
@click.option("--no-backup", is_flag=True, help="Do not keep FILE.bak.")
def add_target(file: Path, route: str, step: str, model: str, at: int | None, dry_run: bool, no_backup: bool) -> None:
    """Add MODEL to the fallback chain of STEP (name or index) in ROUTE of FILE."""
    from workbench.profiles.edit import ProfileEditor

    with _locked(file, dry_run):
        editor = ProfileEditor.open(file)
        editor.add_target(route, step, model, at)
        _finish(editor, dry_run, not no_backup)
