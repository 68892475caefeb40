"""How the CLI reports expected failures: a rich panel on stderr naming what and where, and an exit code."""

from __future__ import annotations

import sys
from typing import Sequence

import click

from workbench.errors import WorkbenchError


def error_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_error(err: WorkbenchError) -> None:
    from rich.panel import Panel
    from rich.text import Text

    body = Text(err.message)
    problems = getattr(err, "problems", None)
    if problems and len(problems) > 1:
        body = Text("\n".join(problems))
    if err.hint:
        body.append("\n" + err.hint, style="dim")
    error_console().print(Panel(body, title=err.title, title_align="left", border_style="red", expand=False))


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
