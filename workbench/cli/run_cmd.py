"""`workbench run` (send a prompt through a route, headless) and `workbench routes` (list a profile's routes).

Human mode streams the answer alone to stdout (`> answer.txt` captures just the answer); notes and the closing
table of hops and totals go to stderr. `--json`
prints one JSON object per event per line (the public event schema, see README). Runs are saved to the session
database unless `--no-save`. Ctrl-C (SIGINT), SIGTERM and SIGHUP cancel the run gracefully: the hop in flight is
closed as cancelled with its estimated cost, the run is saved, and the exit code is 128 + the signal's number
(130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP). A reader that stops reading (`| head`) does not stop the run:
it runs to its end unseen and is saved as it ended. Otherwise the exit code is 0 when the run has an answer (`ok`,
or `degraded` with the best answer so far, noted on stderr) and 1 when it has none.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench.errors import EngineError, WorkbenchError
from workbench.locations import default_profile_path

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile

MAX_PROMPT_BYTES = 8 * 1024 * 1024


def _read_prompt(prompt: str) -> str:
    if prompt == "-":
        data = sys.stdin.buffer.read(MAX_PROMPT_BYTES + 1)
        if len(data) > MAX_PROMPT_BYTES:
            raise EngineError(f"the prompt on stdin is larger than {MAX_PROMPT_BYTES // (1024 * 1024)} MB")
        try:
            prompt = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EngineError(f"the prompt on stdin is not UTF-8 text (byte {exc.start})") from None
    if not prompt.strip():
        raise WorkbenchError(
            "the prompt is empty", hint="pass the prompt as an argument, or `-` to read stdin", title="empty prompt"
        )
    return prompt


def _apply_sim_faults(loaded: LoadedProfile, specs: tuple[str, ...]) -> LoadedProfile:
    """`--sim-fault ALIAS=KIND[:RATE]`: dial a simulated model to fail, in memory only."""
    if not specs:
        return loaded
    from dataclasses import replace

    from workbench.sim.behaviour import Fault, SimBehaviour

    profile = loaded.profile
    models = dict(profile.models)
    for spec in specs:
        alias, _, fault = spec.partition("=")
        kind, _, rate = fault.partition(":")
        if alias not in models:
            raise EngineError(f"--sim-fault {spec!r}: unknown model {alias!r}", hint=f"models: {', '.join(models)}")
        model = models[alias]
        if profile.providers[model.provider].kind != "sim":
            raise EngineError(f"--sim-fault {spec!r}: {alias!r} is not a simulated model")
        try:
            new_fault = Fault(kind=kind, rate=float(rate) if rate else 1.0)
        except ValueError as exc:  # a rate that is not a number, or a fault pydantic rejects (a ValueError too)
            raise EngineError(f"--sim-fault {spec!r}: {exc}") from None
        behaviour = model.sim or SimBehaviour()
        models[alias] = model.model_copy(
            update={"sim": behaviour.model_copy(update={"faults": [*behaviour.faults, new_fault]})}
        )
    return replace(loaded, profile=profile.model_copy(update={"models": models}))


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@click.command()
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(path_type=Path),
    default=None,
    help="profile file (default: profiles/demo.yaml in a workbench checkout, else the demo shipped with workbench)",
)
@click.option("--route", default=None, help="route name (default: the profile's default route)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object per event per line")
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    help="session database (default: $WORKBENCH_DB, else sessions/workbench.db in a workbench checkout, else ~/.local/share/workbench/workbench.db)",
)
@click.option(
    "--session",
    "session_name",
    default=None,
    help="session to file the run under; the session's earlier turns are sent as the conversation so far",
)
@click.option("--no-save", is_flag=True, help="do not save the run to the session database")
@click.option(
    "--meta",
    "meta",
    multiple=True,
    metavar="KEY=VALUE",
    help="request metadata for routing rules and templates (e.g. risk=high); repeatable",
)
@click.option(
    "--sim-fault",
    "sim_faults",
    multiple=True,
    metavar="MODEL=KIND[:RATE]",
    help="dial a simulated model to fail (e.g. swift=http_503); repeatable",
)
@click.option(
    "--otlp", default=None, metavar="URL", help="send the run as OpenTelemetry spans to this OTLP/HTTP endpoint"
)
@click.option(
    "--health",
    "show_health",
    is_flag=True,
    help="at the end, print the targets' health (breaker state, failures, latency EWMA, error rate) as JSON to stderr",
)
@click.argument("prompt")
def run(
    profile_path: Path | None,
    route: str | None,
    as_json: bool,
    db: Path | None,
    session_name: str | None,
    no_save: bool,
    meta: tuple[str, ...],
    sim_faults: tuple[str, ...],
    otlp: str | None,
    show_health: bool,
    prompt: str,
) -> None:
    """Send PROMPT (or `-` for stdin) through a route and stream the answer and its hops."""
    from workbench.cli.saving import parse_meta
    from workbench.profiles.load import load_profile

    metadata = parse_meta(meta)
    text = _read_prompt(prompt)
    loaded = _apply_sim_faults(load_profile(profile_path or default_profile_path()), sim_faults)
    try:
        loaded.profile.route(route)
    except KeyError:
        raise WorkbenchError(
            f"unknown route {route!r} in {loaded.label}",
            hint=f"routes: {', '.join(loaded.profile.routes)} (`workbench routes` lists them)",
            title="unknown route",
        ) from None
    if otlp:
        from workbench.otel.stored import check_endpoint

        check_endpoint(otlp, "--otlp")  # a URL that is not one: exit 2 before anything is opened or spent
    history: list[dict[str, str]] = []
    if session_name:
        from workbench.cli.saving import load_history

        history = load_history(db, session_name)
    writer = None
    if not no_save:
        from workbench.cli.saving import open_writer

        writer = open_writer(db, loaded, session_name)
    signals: list[int] = []
    answered: list[bool] = []  # whether the run ended with an answer (set by _run)
    why: list[str] = []  # the run's own reason for ending as it did (set by _run)
    tracer = watched = None
    if otlp:
        from workbench.otel.spans import OtlpExporter, Tee
        from workbench.otel.stored import watched_otlp_exporter

        watched = watched_otlp_exporter(otlp)
        tracer = OtlpExporter(otlp, profile=loaded.profile, exporter=watched)
    try:
        status = asyncio.run(
            _run(
                loaded,
                route,
                text,
                as_json,
                writer if tracer is None else Tee(writer, tracer),
                signals,
                metadata=metadata,
                history=history,
                session_id=session_name,
                answered=answered,
                why=why,
            )
        )
    finally:
        if writer is not None:
            writer.close()
        if tracer is not None:
            tracer.close()
            if watched is not None and watched.failure is not None:  # the run stands; its trace did not get there
                click.echo(f"note: the run's trace was not sent to {otlp}: {watched.failure}", err=True)
        if show_health:
            from workbench.engine import health

            click.echo(json.dumps({"health": health.snapshot()}, indent=2), err=True)
    if signals:
        raise SystemExit(128 + signals[0])
    if status == "cancelled":
        raise SystemExit(130)
    raise SystemExit(exit_code(status, answered[0] if answered else False, as_json, why[0] if why else None))


def exit_code(status: str, answered: bool, as_json: bool, reason: str | None = None) -> int:
    """0 when the run has an answer: `ok`, or `degraded` (a budget ended it early with the best answer so far, or a
    gate fell back to another path; the run's reason is noted on stderr); 1 when it has none (every target failed,
    or a budget ran out before any answer)."""
    if status == "ok":
        return 0
    if status == "degraded" and answered:
        if not as_json:
            click.echo(
                f"note: the run ended degraded ({reason or 'a fallback path answered'}) with an answer", err=True
            )
        return 0
    return 1


#: signals that stop a run gracefully (cancel, save, exit 128 + signum), with the reason recorded on the run
STOP_SIGNALS = {"SIGINT": "cancelled by user", "SIGTERM": "terminated (SIGTERM)", "SIGHUP": "hung up (SIGHUP)"}


def on_stop_signals(loop: asyncio.AbstractEventLoop, handler: Callable[[int, str], None]) -> None:
    """Call `handler(signum, reason)` in `loop` on each of STOP_SIGNALS instead of dying (where the platform
    allows): the caller cancels gracefully, saves, and exits 128 + signum. `workbench run` and `workbench eval`."""
    for name, reason in STOP_SIGNALS.items():
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            loop.add_signal_handler(signum, handler, int(signum), reason)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


async def _run(
    loaded: LoadedProfile,
    route: str | None,
    prompt: str,
    as_json: bool,
    writer: Any,
    signals: list[int] | None = None,
    *,
    metadata: dict[str, str] | None = None,
    history: list[dict[str, str]] | None = None,
    session_id: str | None = None,
    answered: list[bool] | None = None,
    why: list[str] | None = None,
) -> str:
    from workbench.cli import gc_policy
    from workbench.engine import CancelToken, Engine
    from workbench.engine.events import Progress, RunFinished

    cancel = CancelToken()
    loop = asyncio.get_running_loop()
    received = signals if signals is not None else []

    def on_signal(signum: int, reason: str) -> None:
        received.append(signum)
        cancel.cancel(reason)  # SIGINT's reason is the token's own "cancelled by user"

    on_stop_signals(loop, on_signal)
    loop.call_soon(gc_policy.restore)  # runs at the first suspension: after `run_started` is written
    renderer = None
    if not as_json:  # rich is not imported for --json: it is on the way to the first event
        from workbench.cli.render import HumanRenderer

        renderer = HumanRenderer()
    out = sys.stdout
    status = "error"
    reader_gone = False
    async with Engine(loaded) as engine:
        engine.check_route(route)  # errors here exit 2 before anything streams
        async for event in engine.run(
            prompt, route=route, cancel=cancel, metadata=metadata, history=history, session_id=session_id
        ):
            if writer is not None:
                writer.submit(event)
            if isinstance(event, RunFinished):
                status = event.status
                if answered is not None:
                    answered.append(bool(event.output))
                if why is not None and event.reason:
                    why.append(event.reason)
            if reader_gone:
                continue
            try:
                if renderer is None:
                    out.write(json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
                    if event.type != "token":
                        out.flush()
                    if isinstance(event, Progress):  # for the human watching: the same line as without --json
                        print(event.message, file=sys.stderr, flush=True)
                else:
                    renderer.handle(event)
            except BrokenPipeError:
                # The reader went away (`| head`). That is not a request to stop (Ctrl-C is): the run goes on to its
                # end, unseen, and is saved as it ends, not as `cancelled`. Its answer is in the session database.
                reader_gone = True
                _silence_stdout()
    if not reader_gone:
        try:
            out.flush()
        except BrokenPipeError:  # the last buffered lines met a reader already gone: the run is complete
            _silence_stdout()
    return status


@click.command()
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(path_type=Path),
    default=None,
    help="profile file (default: profiles/demo.yaml in a workbench checkout, else the demo shipped with workbench)",
)
@click.option("--json", "as_json", is_flag=True, help="print the routes as JSON")
@click.option("--route", "route_name", default=None, help="draw this route's steps and branches as a tree")
def routes(profile_path: Path | None, as_json: bool, route_name: str | None) -> None:
    """List a profile's routes and their steps (targets in fallback order), or draw one route as a tree."""
    from workbench.profiles.load import load_profile
    from workbench.profiles.steps import step_targets

    profile = load_profile(profile_path or default_profile_path()).profile
    if route_name is not None and not as_json:
        if route_name not in profile.routes:
            raise click.BadParameter(
                f"no route {route_name!r} (routes: {', '.join(profile.routes)})", param_hint="--route"
            )
        from rich.console import Console

        from workbench.cli.route_tree import route_tree

        Console().print(route_tree(profile, route_name))
        return
    default = profile.default_route or next(iter(profile.routes))
    if as_json:
        data = {
            name: {
                "default": name == default,
                "description": r.description,
                "max_cost_usd": None if r.max_cost_usd is None else str(r.max_cost_usd),
                "steps": [{"name": s.name, "kind": s.kind, "targets": step_targets(s)} for s in r.steps],
            }
            for name, r in profile.routes.items()
        }
        click.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"routes in {profile.name}", title_justify="left")
    for col in ("route", "step", "targets (primary → fallbacks)", "cap", "description"):
        table.add_column(col)
    for name, r in profile.routes.items():
        for i, step in enumerate(r.steps):
            targets = " → ".join(
                f"{t} ({profile.models[t].provider}/{profile.models[t].model})" for t in step_targets(step)
            )
            table.add_row(
                (name + (" (default)" if name == default else "")) if i == 0 else "",
                step.name,
                targets,
                "" if r.max_cost_usd is None or i else f"${r.max_cost_usd}",
                (r.description or "") if i == 0 else "",
            )
    Console().print(table)
