"""`workbench sessions list | show ID | search TEXT | export | import FILE | rm ID | reprice`: saved runs, headless.

Every command takes `--db PATH` (default `$WORKBENCH_DB`, else the default of workbench/locations.py). Reading commands open
a read-only file read-only; an unknown run id, a bad search query or an unusable database is a StoreError
(a message panel and exit code 2), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from workbench.cli.terminal import for_terminal
from workbench.errors import StoreError

_db_option = click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="session database (default: $WORKBENCH_DB, else sessions/workbench.db in a workbench checkout, else ~/.local/share/workbench/workbench.db)",
)


def _open(db: Path | None, *, create: bool = False) -> Any:
    from workbench.store import open_store

    return open_store(db, create=create)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _when(ts: float | None, *, short: bool = False) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


def _cost(value: float | None) -> str:
    return "" if value is None else f"${value:.6f}"


def _one_line(text: str | None, width: int) -> str:
    flat = for_terminal(" ".join((text or "").split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _plain(text: str | None) -> str:
    """A saved value for the summary grid (read as markup there): control characters shown, brackets escaped."""
    from rich.markup import escape

    return escape(for_terminal(text))


def _status(status: str | None) -> str:
    color = {
        "ok": "green",
        "error": "red",
        "timeout": "red",
        "cancelled": "yellow",
        "degraded": "yellow",  # ended early (a budget) with the best answer so far
        "skipped": "dim",
        "superseded": "dim",  # a hedged attempt that lost the race
    }.get(status or "")
    return f"[{color}]{status}[/]" if color else _plain(status)


_RIGHT = {"latency", "ttft", "tokens", "cost"}


def _fitted_table(
    title: str, heads: list[str], rows: list[list[str]], width: int, *, squeeze: str, drop: tuple[str, ...]
) -> Any:
    """A table that fits `width` without clipping figures: the `squeeze` column gives up width first (ellipsis),
    then the `drop` columns go, in that order."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    natural = {h: max([len(r[i]) for r in rows] + [len(h)]) for i, h in enumerate(heads)}
    measure = Console(width=10_000)
    keep = list(heads)
    for dropping in (None, *drop):
        if dropping is not None:
            keep.remove(dropping)
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for h in keep:
            table.add_column(
                h, no_wrap=True, overflow="ellipsis", min_width=natural[h], justify="right" if h in _RIGHT else "left"
            )
        index = [heads.index(h) for h in keep]
        for r in rows:  # cells as Text: a saved value is shown as written, never read as markup
            table.add_row(*(_status(r[i]) if heads[i] == "status" else Text(for_terminal(r[i])) for i in index))
        need = measure.measure(table).maximum
        spare = natural[squeeze] - 8 if squeeze in keep else 0
        if need <= width or need - width <= spare:
            if need > width:
                column = table.columns[keep.index(squeeze)]
                column.min_width = column.max_width = natural[squeeze] - (need - width)
            return table
    return table


# `sessions show` prints this much of a prompt or output unless --full (a 1 MB prompt is not for a terminal)
SHOW_CHARS = 4000


@click.group()
def sessions() -> None:
    """Saved runs: list, show, search, export, import, remove, reprice."""


@sessions.command("list")
@_db_option
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="newest N runs")
@click.option("--session", "session_name", default=None, help="only runs of this session")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per run per line")
def list_cmd(db: Path | None, limit: int, session_name: str | None, as_json: bool) -> None:
    """The newest runs, newest first."""
    from workbench.store import resolve_db_path

    if not resolve_db_path(db).exists():
        click.echo(f"no runs saved yet (there is no session database at {resolve_db_path(db)})", err=True)
        return
    with _open(db) as store:
        rows = store.list_runs(limit=limit, session=session_name)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    heads = ["id", "session", "route", "status", "latency", "tokens", "cost", "started", "prompt"]
    cells = [
        [
            r["id"],
            r["session"] or "",
            r["route"] or "",
            r["status"] or "",
            _ms(r["latency_ms"]),
            f"{r['input_tokens']}/{r['output_tokens']}",
            _cost(r["cost_usd"]),
            _when(r["started_ts"], short=True),
            _one_line(r["prompt"], 60),
        ]
        for r in rows
    ]
    console = _console()
    table = _fitted_table(
        f"runs in {store.path}",
        heads,
        cells,
        console.width,
        squeeze="prompt",
        drop=("session", "started", "latency", "route"),
    )
    console.print(table)
    if not rows:
        click.echo("no runs" + (f" in session {session_name!r}" if session_name else ""), err=True)


@sessions.command("show")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="the run, hops, messages and decisions as JSON")
@click.option(
    "--full", is_flag=True, help=f"print the prompt and output whole (default: the first {SHOW_CHARS} characters)"
)
@click.argument("run_id")
def show_cmd(db: Path | None, as_json: bool, full: bool, run_id: str) -> None:
    """One run: totals, hop tree, decisions, output.

    RUN_ID is a full run id, `last` (the newest run), or a unique start or end of one (runs made close together
    share their first characters: the last ones tell them apart). One matching several runs lists them (exit 2)."""
    with _open(db) as store:
        detail = store.get_run(run_id)
    if as_json:
        click.echo(
            json.dumps(
                {"run": detail.run, "hops": detail.hops, "messages": detail.messages, "decisions": detail.decisions},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    run = detail.run
    console = _console()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in (
        ("run", _plain(run["id"])),
        ("session", _plain(run["session"])),
        ("route", _plain(run["route"])),
        (
            "profile",
            _plain(f"{run['profile'] or ''} {run['profile_path'] or ''} sha256:{(run['profile_hash'] or '')[:12]}"),
        ),
        ("status", _status(run["status"]) + (f"  {_plain(run['error'])}" if run["error"] else "")),
        ("reason", _plain(run.get("reason"))),
        ("started", _when(run["started_ts"])),
        ("latency", _ms(run["latency_ms"])),
        ("ttft", _ms(run["ttft_ms"])),
        (
            "tokens in/out",
            f"{run['input_tokens']}/{run['output_tokens']}" + (" (estimated)" if run["estimated"] else ""),
        ),
        ("cost", f"${run['cost_exact']}"),
    ):
        if value or label != "reason":  # (runs saved before event schema v2 have no reason)
            summary.add_row(label, value or "")
    console.print(Panel(summary, title="run", title_align="left", expand=False))
    console.print(Panel(_clipped(run["prompt"], full), title="prompt", title_align="left"))

    heads = ("hop", "provider/model", "status", "latency", "ttft", "tokens", "cost")
    rows: list[list[str]] = []
    notes: list[tuple[str, str]] = []
    depth: dict[str, int] = {}
    for h in detail.hops:
        level = depth.get(h["parent_id"], -1) + 1 if h["parent_id"] else 0
        depth[h["hop_id"]] = level
        label = f"{h['kind']} {h['name'] or ''}".strip() + (f" #{h['attempt']}" if h["attempt"] else "")
        model = "/".join(x for x in (h["provider"], h["model_id"] or h["model"]) if x)
        rows.append(
            [
                "  " * level + ("└ " if level else "") + label,
                model,
                h["status"] or "",
                _ms(h["latency_ms"]),
                _ms(h["ttft_ms"]),
                f"{h['input_tokens'] or 0}/{h['output_tokens'] or 0}",
                f"${h['cost_exact']}",
            ]
        )
        gate = None
        if h.get("verdict"):
            score = "" if h.get("score") is None else f" (score {h['score']:.2f})"
            gate = f"{h.get('check_name') or 'check'}: {h['verdict']}{score}" + (
                f" {h['detail']}" if h.get("detail") else ""
            )
        if h["error"] or h["reason"] or gate:
            notes.append((label, " — ".join(x for x in (gate, h["error"], h["reason"]) if x)))
    hops = _fitted_table(
        "hops", list(heads), rows, console.width, squeeze="provider/model", drop=("ttft", "latency", "provider/model")
    )
    console.print(hops)
    for label, note in notes:
        console.print(Text.assemble((for_terminal(label), "bold"), ": ", for_terminal(note)))
    for d in detail.decisions:
        console.print(
            Text.assemble(
                (for_terminal(d["action"]), "bold"),
                for_terminal(f" → {d['target']}" if d["target"] else ""),
                ": ",
                for_terminal(d["reason"]),
            )
        )
    console.print(Panel(_clipped(run["output"], full), title="output", title_align="left"))


def _clipped(text: str | None, full: bool) -> Any:
    """A long prompt or output shown in its first SHOW_CHARS characters, with a note saying how much is left."""
    from rich.text import Text

    text = text or ""
    if full or len(text) <= SHOW_CHARS:
        return Text(for_terminal(text))
    rest = len(text) - SHOW_CHARS
    return Text.assemble(
        for_terminal(text[:SHOW_CHARS]),
        (f"\n… {rest:,} more characters ({len(text):,} in all): `--full` prints them, `--json` too", "dim"),
    )


def _highlighted(snippet: str | None) -> Any:
    from rich.text import Text

    from workbench.store import HIGHLIGHT_END, HIGHLIGHT_START

    text = Text()
    for i, part in enumerate(" ".join((snippet or "").split()).split(HIGHLIGHT_START)):
        hit, _, rest = part.partition(HIGHLIGHT_END) if i else ("", "", part)
        if hit:
            text.append(for_terminal(hit), style="bold reverse")
        text.append(for_terminal(rest))
    return text


@sessions.command("search")
@_db_option
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--literal", is_flag=True, help="search the words as typed (no FTS5 operators)")
@click.argument("text")
def search_cmd(db: Path | None, limit: int, literal: bool, text: str) -> None:
    """Full-text search over prompts and outputs.

    FTS5 syntax: words (all must match), "exact phrase", a OR b, NOT c, prefix*. Use --literal to search
    text with punctuation as typed."""
    with _open(db) as store:
        rows = store.search(text, limit, literal=literal)
    if not rows:
        click.echo(f"no runs match {text!r}", err=True)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"runs matching {for_terminal(repr(text))}"), title_justify="left")
    for col in ("id", "started", "route", "status", "prompt", "output"):
        table.add_column(col, no_wrap=col in {"id", "started"})
    for r in rows:
        table.add_row(
            Text(for_terminal(r["id"])),
            _when(r["started_ts"]),
            Text(for_terminal(r["route"])),
            _status(r["status"]),
            _highlighted(r["prompt_snippet"]),
            _highlighted(r["output_snippet"]),
        )
    _console().print(table)


@sessions.command("export")
@_db_option
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "csv", "otlp"]), default="json", show_default=True)
@click.option("--endpoint", default=None, help="for otlp: the OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318)")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=600),
    default=10.0,
    show_default=True,
    help="for otlp: seconds the collector has to take a batch (retries included) before the export fails",
)
@click.option(
    "--table",
    type=click.Choice(["runs", "hops", "messages", "decisions", "sessions", "profiles"]),
    default="runs",
    show_default=True,
    help="for csv: which table",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="file to write (mode 0600; default: stdout)",
)
def export_cmd(
    db: Path | None, fmt: str, endpoint: str | None, timeout: float, table: str, output: Path | None
) -> None:
    """Export every table (json, jsonl) or one (csv), or send the runs as traces (otlp).

    json and jsonl exports hold every table and import back with `workbench sessions import`. otlp exits 1
    when the collector did not take every run (an HTTP error, refused, no answer within --timeout)."""
    from workbench.store.transfer import export, open_private

    if fmt == "otlp":
        if not endpoint:
            raise click.UsageError("--format otlp needs --endpoint URL")
        from workbench.otel.stored import check_endpoint, export_store

        check_endpoint(endpoint)
        with _open(db) as store:
            sent = export_store(store, endpoint, timeout=timeout)
        click.echo(f"sent {sent} runs as traces to {endpoint}", err=True)
        return

    with _open(db) as store:
        if output is None:
            try:
                counts = export(store, fmt, sys.stdout, table=table)
                sys.stdout.flush()
            except BrokenPipeError:
                raise
            except OSError as exc:  # e.g. stdout is a full disk: say so (stdout is dropped so exit cannot fail)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                raise StoreError(f"cannot write the export to standard output: {exc.strerror or exc}") from None
        else:
            try:
                out = open_private(output)
            except OSError as exc:
                raise StoreError(f"cannot write the export file {output}: {exc.strerror}") from None
            try:
                with out:
                    counts = export(store, fmt, out, table=table)
            except OSError as exc:  # e.g. the disk is full (/dev/full): say so, and leave no half file behind
                if output.is_file():
                    output.unlink(missing_ok=True)
                raise StoreError(
                    f"cannot write the export file {output}: {exc.strerror or exc}",
                    hint="free some space or choose another place with -o",
                ) from None
            click.echo(
                f"exported {counts.get('runs', 0) if fmt != 'csv' else counts[table]} "
                f"{'runs' if fmt != 'csv' else table + ' rows'} to {output}",
                err=True,
            )


_MAX_REASONS = 20


@sessions.command("import")
@_db_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def import_cmd(db: Path | None, file: Path) -> None:
    """Import a json or jsonl export.

    Runs already present are skipped with their hops, so importing twice adds nothing."""
    from workbench.store.transfer import import_file

    with _open(db, create=True) as store:
        counts = import_file(store, file)
    completed = f", {counts['completed']} incomplete run(s) filled in" if counts["completed"] else ""
    click.echo(
        f"imported {counts['runs']} run(s), {counts['hops']} hop(s) into {store.path}"
        f" ({counts['skipped']} already present, skipped{completed})"
    )
    rejected: list[str] = counts["rejected"]
    if rejected:
        click.echo(f"rejected {len(rejected)} item(s), nothing of them imported:", err=True)
        for reason in rejected[:_MAX_REASONS]:
            click.echo(f"  {reason}", err=True)
        if len(rejected) > _MAX_REASONS:
            click.echo(f"  ... and {len(rejected) - _MAX_REASONS} more", err=True)
        raise SystemExit(1)


@sessions.command("rm")
@_db_option
@click.argument("run_ids", nargs=-1, required=True)
def rm_cmd(db: Path | None, run_ids: tuple[str, ...]) -> None:
    """Delete runs with their hops and messages.

    Each RUN_ID is a full id, `last` (the newest run), or a unique start or end of one; the run's hops, messages
    and decisions go with it. Every RUN_ID is checked first: one that names no run, or several, deletes nothing."""
    from workbench.store.queries import resolve_run_id

    with _open(db) as store:
        with store.errors("reading"):
            ids = list(dict.fromkeys(resolve_run_id(store, ref) for ref in run_ids))
        for run_id in ids:
            counts = store.delete_run(run_id)
            click.echo(f"removed run {counts['id']} ({counts['hops']} hop(s), {counts['messages']} message(s))")


def _day(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    """A day (UTC): YYYY-MM-DD, `today`, `yesterday`, or `Nd` (N days before today, as `review --since 30d`)."""
    if value is None:
        return None
    today = dt.datetime.now(dt.UTC).date()
    text = value.strip().lower()
    if text in ("today", "yesterday"):
        return today - dt.timedelta(days=text == "yesterday")
    if text.endswith("d") and text[:-1].isdigit() and int(text[:-1]) <= 100_000:
        return today - dt.timedelta(days=int(text[:-1]))
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (expected YYYY-MM-DD, or today, yesterday, Nd for N days ago as in 30d)"
        ) from None


def _money(value: Any, *, signed: bool = False) -> str:
    from workbench.accounting.money import usd

    return usd(value, signed=signed, prefix="$")


def _pct(original: Any, repriced: Any) -> str:
    from workbench.store.reprice import delta_pct

    pct = delta_pct(original, repriced)
    return "n/a" if pct is None else f"{pct:+}%" if pct else "0%"


@sessions.command("reprice")
@_db_option
@click.argument("run_ids", nargs=-1)
@click.option("--session", "session_name", default=None, help="only runs of this session")
@click.option("--route", default=None, help="only runs of this route")
@click.option(
    "--since", callback=_day, metavar="DAY", help="only runs started on or after this day (UTC): YYYY-MM-DD, today, 30d"
)
@click.option(
    "--until",
    callback=_day,
    metavar="DAY",
    help="only runs started on or before this day (UTC): YYYY-MM-DD, today, 30d",
)
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="profile whose prices to apply",
)
@click.option("--model", default=None, metavar="ALIAS", help="price every attempt as this model of the profile")
@click.option("--on", callback=_day, metavar="YYYY-MM-DD", help="use the prices in force on this day (default: today)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object: per-run and total figures as exact decimals")
def reprice_cmd(
    db: Path | None,
    run_ids: tuple[str, ...],
    session_name: str | None,
    route: str | None,
    since: dt.date | None,
    until: dt.date | None,
    profile_path: Path,
    model: str | None,
    on: dt.date | None,
    as_json: bool,
) -> None:
    """Re-cost saved runs on a profile's prices. Read-only: the database is never modified.

    Each attempt hop is priced from its stored usage buckets (fresh input, cache reads and writes, output,
    reasoning; long-context tiers apply) as the model it ran on, or with --model as if every attempt had run on
    ALIAS. RUN_IDS are full ids or unique prefixes; without them every run matching the filters is repriced.
    Hops whose model is not in the profile keep their original cost and are counted in a warning."""
    from workbench.profiles.load import load_profile
    from workbench.store.reprice import open_readonly, reprice

    loaded = load_profile(profile_path)
    with open_readonly(db) as store:
        result = reprice(
            store, loaded, run_ids, session=session_name, route=route, since=since, until=until, on=on, model=model
        )
    unpriced = result.unpriced()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        priced = f", every attempt as {model}" if model else ""
        heads = ["run", "route", "started", "original", "repriced", "delta", "delta %"]
        rows = [
            [
                r.run_id,
                r.route or "",
                _when(r.started_ts, short=True),
                _money(r.original),
                _money(r.repriced),
                _money(r.delta, signed=True),
                _pct(r.original, r.repriced),
            ]
            for r in result.runs
        ]
        rows.append(
            [
                "total",
                "",
                "",
                _money(result.original),
                _money(result.repriced),
                _money(result.delta, signed=True),
                _pct(result.original, result.repriced),
            ]
        )
        console = _console()
        table = _fitted_table(
            f"{len(result.runs)} run(s) repriced on {profile_path} prices in force on {result.on}{priced}",
            heads,
            rows,
            console.width,
            squeeze="route",
            drop=("started", "route"),
        )
        for column in table.columns:
            if column.header not in {"run", "route", "started"}:
                column.justify = "right"
        table.rows[-2].end_section = True  # the totals row stands apart
        table.rows[-1].style = "bold"
        console.print(table)
    if unpriced:
        models = sorted({h.unpriced or "" for _, h in unpriced})
        click.echo(
            f"warning: {len(unpriced)} hop(s) in {len({r.run_id for r, _ in unpriced})} run(s) kept their"
            f" original cost: {'; '.join(models)}",
            err=True,
        )
