"""The command line: `workbench run | routes | tui | profile ... | sim ... | sessions ... | events ...`.

Each command group lives in its own module and is imported only when used, so `workbench --help` and the TUI
start fast. Commands parse arguments, call the library, and render; they hold no logic of their own.
Expected failures (WorkbenchError) print a message panel on stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

# command name -> "module:attribute" (lazy)
_COMMANDS = {
    "run": "workbench.cli.run_cmd:run",
    "routes": "workbench.cli.run_cmd:routes",
    "tui": "workbench.cli.tui_cmd:tui",
    "profile": "workbench.cli.profile_cmd:profile",
    "sim": "workbench.cli.sim_cmd:sim",
    "sessions": "workbench.cli.sessions_cmd:sessions",
    "serve": "workbench.cli.serve_cmd:serve",
    "events": "workbench.cli.events_cmd:events",
    "export": "workbench.cli.export_cmd:export",
    "eval": "workbench.cli.eval_cmd:eval_cmd",
    "tune": "workbench.cli.tune_cmd:tune",
    "review": "workbench.cli.review_cmd:review",
    "tools": "workbench.cli.tools_cmd:tools",
    "demo-mcp": "workbench.cli.tools_cmd:demo_mcp",
}


_SUMMARIES = {
    "run": "Send a prompt through a route; stream the answer and its hops.",
    "routes": "List a profile's routes and their steps.",
    "tui": "Open the workbench (Textual) on a profile.",
    "profile": "Check a profile file, or print the profile JSON Schema.",
    "sim": "Run the LLM simulator (OpenAI and Anthropic wire formats).",
    "sessions": "List, show, search, export, import, remove and re-price saved runs.",
    "serve": "Serve the workbench TUI in a web browser (loopback by default).",
    "events": "Print the JSON Schema of the event stream (run --json lines).",
    "export": "Export a route as a native profile, a LiteLLM config or a Portkey config.",
    "eval": "Run a dataset through routes; pass rates with intervals, latency, cost.",
    "tune": "Sweep one route parameter over a dataset; Pareto front; write the chosen value.",
    "review": "Review routing from saved runs: spend, latency, failures, cheaper candidates.",
    "tools": "List the tools MCP servers offer, with their JSON Schemas.",
    "demo-mcp": "Run the demo MCP server (an order desk) over stdio or streamable HTTP.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listed from static summaries: `workbench --help` imports none of the command modules.
        with formatter.section("Commands"):
            formatter.write_dl([(name, _SUMMARIES[name]) for name in sorted(_COMMANDS)])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="workbench")
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With no command: open the workbench on this profile (as `workbench tui --profile`).",
)
@click.option("--db", type=click.Path(path_type=Path), default=None, help="With no command: the session database.")
@click.option("--session", "session_name", default=None, help="With no command: file the runs under this session.")
@click.option("--no-save", is_flag=True, help="With no command: do not save runs.")
@click.pass_context
def cli(
    ctx: click.Context, profile_path: Path | None, db: Path | None, session_name: str | None, no_save: bool
) -> None:
    """workbench: compose routes, stream hops, compare models, save sessions.

    With no command, opens the workbench (`workbench tui`) on the default profile, or the one --profile names.
    """
    given = {"--profile": profile_path, "--db": db, "--session": session_name, "--no-save": no_save or None}
    if ctx.invoked_subcommand is None:
        tui = LazyGroup.get_command(cli, ctx, "tui")
        assert tui is not None
        ctx.invoke(tui, profile_path=profile_path, db=db, session_name=session_name, no_save=no_save)
    elif any(v is not None for v in given.values()):
        names = ", ".join(k for k, v in given.items() if v is not None)
        raise click.UsageError(
            f"{names} before a command opens the workbench screen only; put it after the command"
            f" (`workbench {ctx.invoked_subcommand} {names.split(',')[0]} ...`)"
        )


def main(argv: list[str] | None = None) -> None:
    # `import httpx` also imports httpx's own command line (httpx._main: rich.progress, rich.syntax, pygments), ~30 ms
    # on the way to `workbench run`'s first event, for a tool this process never runs. httpx guards that import
    # with `except ImportError`; a None entry in sys.modules makes it take that branch. The CLI process only: a
    # program that imports workbench as a library keeps httpx as it is.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from workbench.cli import gc_policy
    from workbench.cli.output import run_cli

    gc_policy.relax()  # restored by the command once it has started (workbench/cli/gc_policy.py)

    _exit(run_cli(cli, argv))


def _exit(code: int) -> None:
    """Exit with `code` without the interpreter's teardown when nothing is left to run.

    Freeing every module and a 200,000-entry BPE table one object at a time costs ~0.1 s after `workbench run`
    has printed everything (and saved: the session writer is closed and joined before a command returns). Only
    when this is the sole thread: stdio is flushed and the atexit handlers run, as a normal exit would, then the
    process ends. Anything else (a thread still alive, a failed flush) takes the ordinary `sys.exit`.
    """
    import os
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()  # logging's shutdown and friends
    os._exit(code)
