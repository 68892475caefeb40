"""How the CLI reports expected failures: a rich panel on stderr naming what and where, and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from rich.console import Console


def error_console() -> Console:
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


def _shown(arg: str) -> str:
    """`arg` as the user typed it, quoted for a shell, each byte that is not UTF-8 written as \\xNN."""
    import shlex

    return shlex.quote(arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))


def _takes_value(group: click.Group, args: Sequence[str], index: int, name: str) -> bool:
    """Whether option `name`, seen before `args[index]`, takes a value in the (sub)command being called."""
    command: click.Command = group
    ctx = click.Context(group)
    for arg in args[:index]:
        if isinstance(command, click.Group) and not arg.startswith("-"):
            sub = command.get_command(ctx, arg)
            if sub is not None:
                command = sub
                continue
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return not param.is_flag and not param.count
    return False


def check_argv(group: click.Group, args: Sequence[str]) -> None:
    """Refuse an argument that is not UTF-8 text, as `run -` refuses such a prompt on stdin: exit 2, naming the
    argument (and the option it is the value of) and the first bad byte.

    Python hands such bytes over as lone surrogates (PEP 383); left in, they fail much later and far away: a
    prompt cannot be encoded for the provider, a session name or metadata cannot be saved. Checked here, once,
    for every command, before any of them starts. Paths are not exempt: a path is saved with the run as text.
    """
    for index, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            position = exc.start
            previous = args[index - 1] if index else ""
            if arg.startswith("--") and "=" in arg:
                option, _, value = arg.partition("=")
                what, position = f"the value of {option}", exc.start - len(option) - 1
                arg = value if position >= 0 else arg
                if position < 0:
                    what, position = f"option {_shown(option)}", exc.start
            elif previous.startswith("-") and "=" not in previous and _takes_value(group, args, index - 1, previous):
                what = f"the value of {previous}"
            elif arg.startswith("-"):
                what = f"option {_shown(arg)}"
            else:
                what = f"argument {index + 1}"
            bad = arg[position].encode("utf-8", "surrogateescape")
            raise WorkbenchError(
                f"{what} is not UTF-8 text: byte 0x{bad.hex()} at position {position} of {_shown(arg)}",
                hint="workbench takes UTF-8 arguments; convert the text first (e.g. with `iconv -t utf-8`)",
                title="argument is not UTF-8",
            ) from None


def run_cli(group: click.Group, argv: Sequence[str] | None = None) -> int:
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        check_argv(group, args)
        group.main(args=args, prog_name="workbench", standalone_mode=False)
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
