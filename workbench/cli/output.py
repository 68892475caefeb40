"""How the CLI reports expected failures: a rich panel on stderr naming what and where, and an exit code."""

from __future__ import annotations

from collections.abc import Sequence

import click

from workbench.errors import WorkbenchError


def error_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_error(err: WorkbenchError) -> None:
    """A red title line, then the message (each problem on its own unwrapped line, so file:line:col stays
    greppable and clickable), then the hint dimmed."""
    from rich.text import Text

    console = error_console()
    problems = getattr(err, "problems", None) or [err.message]
    console.print(Text(f"error: {err.title}", style="bold red"))
    for line in problems:
        console.print(Text(str(line)), soft_wrap=True)
    if err.hint:
        console.print(Text(err.hint, style="dim"), soft_wrap=True)


def run_cli(group: click.Group, argv: Sequence[str] | None = None) -> int:
    try:
        group.main(args=list(argv) if argv is not None else None, prog_name="workbench", standalone_mode=False)
    except WorkbenchError as err:
        print_error(err)
        return err.exit_code
    except click.exceptions.Abort:
        error_console().print("aborted")
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0
