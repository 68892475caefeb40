"""`workbench review [--since 30d] [--json]`: spend, latency and failures per route, step, model and branch from
the session database, targets that never answered, and cheaper routes that evals found about as good."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click


@click.command("review")
@click.option("--since", default="30d", show_default=True, help="window: 30d, 12h, 90m")
@click.option("--margin", default=2.0, show_default=True, help="pass-rate points a cheaper route may lose")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="session database")
def review(since: str, margin: float, as_json: bool, db: Path | None) -> None:
    """Review routing from saved runs: where money and time went, what never answered, cheaper candidates."""
    from workbench.eval.review import parse_since
    from workbench.eval.review import review as do_review
    from workbench.store import open_store

    start = time.time() - parse_since(since)
    with open_store(db, create=False) as store, store.errors("reviewing"):
        data = do_review(store.conn, start, margin=margin / 100)
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    t = Table(title=f"routes, last {since}", title_justify="left")
    for c in ("route", "runs", "spend $", "p50/p95 ms", "error", "fallback", "degraded"):
        t.add_column(c)
    for r, s in data["routes"].items():
        t.add_row(
            r,
            str(s["runs"]),
            s["spend_usd"],
            f"{ms(s['latency_p50_ms'])}/{ms(s['latency_p95_ms'])}",
            f"{s['error_rate']:.0%}",
            f"{s['fallback_rate']:.0%}",
            f"{s['degraded_rate']:.0%}",
        )
    con.print(t)
    for title, rows in (("steps", data["steps"]), ("models", data["models"])):
        t = Table(title=title, title_justify="left")
        for c in ("name", "calls", "failed", "skipped", "spend $", "p50/p95 ms"):
            t.add_column(c)
        for name, s in rows.items():
            t.add_row(
                name,
                str(s["calls"]),
                "-" if s["failed_share"] is None else f"{s['failed_share']:.0%}",
                str(s["skipped"]),
                s["spend_usd"],
                f"{ms(s['latency_p50_ms'])}/{ms(s['latency_p95_ms'])}",
            )
        con.print(t)
    for route, shares in data["branches"].items():
        con.print(f"branches of {route}: " + ", ".join(f"{b} {v:.0%}" for b, v in shares.items()))
    if data["never_answered"]:
        con.print("never answered: " + ", ".join(data["never_answered"]))
    for c in data["candidates"]:
        con.print(c["text"])
