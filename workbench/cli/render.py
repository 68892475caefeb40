"""Human rendering of a run's events for the headless CLI: the answer streams to stdout as it arrives;
decisions are noted on stderr as they happen, and a rich table of hops and totals (on stderr) closes the run."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from workbench.accounting.money import usd
from workbench.cli.terminal import for_terminal
from workbench.engine.events import (
    ContentUnsupported,
    Decision,
    Event,
    HopFinished,
    HopStarted,
    Progress,
    RunFinished,
    Token,
    ToolCalled,
)

STATUS_STYLE = {
    "ok": "green",
    "error": "red",
    "timeout": "red",
    "cancelled": "yellow",
    "degraded": "yellow",
    "skipped": "dim",
    "superseded": "dim",
}


def money(value: Any) -> str:
    return usd(value, places=6, pad=True, prefix="$")


def _hop_number(hop_id: str) -> int | None:
    """Hop ids are `RUN.N`, N allocated as hops begin: the order hops started in (skipped ones included)."""
    tail = hop_id.rpartition(".")[2]
    return int(tail) if tail.isdigit() else None


class HumanRenderer:
    """The answer alone goes to `out` (stdout), so `> answer.txt` captures just the answer; decisions, failed
    attempts and the hop table go to `err` (stderr)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.console = Console(file=self.err, highlight=False)
        if not self.console.is_terminal:
            self.console.width = max(self.console.width, 110)
        self.hops: list[HopFinished] = []
        self.decisions: list[Decision] = []
        self._streaming_hop: str | None = None
        self._mid_line = False
        self._order: dict[str, int] = {}
        # On a terminal the answer streams as it comes; redirected (`> answer.txt`), stdout gets the run's final
        # output alone, once: intermediate steps, parallel children and a failed attempt's partial text stay out.
        self.live = bool(getattr(self.out, "isatty", lambda: False)())
        self._quiet: set[str] = set()  # hops whose tokens are not the answer (classifier, judge, parallel child)

    def _end_line(self) -> None:
        """Before a note on stderr: start it on a line of its own when the answer is mid-line (a newline on
        stderr, so the answer on stdout is left as the model wrote it)."""
        if self._mid_line:
            self.err.write("\n")
            self.err.flush()

    def _end_answer(self) -> None:
        if self._mid_line:
            self.out.write("\n")
            self.out.flush()
            self._mid_line = False

    def handle(self, event: Event) -> None:
        if isinstance(event, Token):
            if not self.live or event.hop_id in self._quiet:
                return
            if self._streaming_hop != event.hop_id:
                self._streaming_hop = event.hop_id
            self.out.write(for_terminal(event.text))  # a terminal: escape sequences are shown, not obeyed
            self._mid_line = not event.text.endswith("\n")
            self.out.flush()
        elif isinstance(event, Decision):
            self.decisions.append(event)
            if event.action != "route":
                self._end_line()
                self.console.print(Text(for_terminal(f"↳ {event.action}: {event.reason}"), style="yellow"))
        elif isinstance(event, HopStarted):
            self._order[event.hop_id] = len(self._order)
            if event.kind == "parallel" or event.parent_id in self._quiet or event.role in ("classifier", "judge"):
                self._quiet.add(event.hop_id)
        elif isinstance(event, HopFinished):
            self.hops.append(event)
            if event.kind == "attempt" and event.status != "ok":
                self._end_line()
                detail = for_terminal(event.error or event.reason or "")
                self.console.print(
                    Text(
                        f"✗ {event.name} attempt {event.attempt}: {event.status} {detail}",
                        style=STATUS_STYLE.get(event.status, ""),
                    )
                )
        elif isinstance(event, Progress):  # slow work inside a hop (indexing a corpus): a line on stderr as it goes
            self._end_line()
            self.console.print(Text(event.message, style="dim"), soft_wrap=True)
        elif isinstance(event, ToolCalled | ContentUnsupported):
            if event.hop_id in self._quiet:
                return
            self._end_line()
            if isinstance(event, ToolCalled):  # the model asked for a tool (nothing runs it yet: the caller decides)
                self.console.print(Text(f"⚙ tool call {event.name} {event.arguments}", style="cyan"))
            else:
                self.console.print(Text(f"? content of a kind not understood: {event.content_kind}", style="yellow"))
        elif isinstance(event, RunFinished):
            if not self.live and event.output:
                self.out.write(event.output if event.output.endswith("\n") else event.output + "\n")
                self.out.flush()
            self._end_answer()
            self.console.print(self.table(event))

    def table(self, final: RunFinished) -> Table:
        table = Table(
            title=f"run {final.run_id}", title_justify="left", show_footer=True, box=box.SIMPLE_HEAD, pad_edge=False
        )
        table.add_column("hop", footer="total", no_wrap=True)
        table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=28)
        table.add_column("#", justify="right")
        table.add_column(
            "status", min_width=9, no_wrap=True, footer=Text(final.status, style=STATUS_STYLE.get(final.status, ""))
        )
        table.add_column("ms", justify="right", footer=f"{final.latency_ms:.0f}")
        table.add_column(
            "ttft", justify="right", min_width=4, footer="" if final.ttft_ms is None else f"{final.ttft_ms:.0f}"
        )
        table.add_column("in", justify="right", footer=str(final.input_tokens))
        table.add_column("out", justify="right", footer=str(final.output_tokens))
        table.add_column(
            "cost", justify="right", no_wrap=True, footer=money(final.cost_usd) + (" (est.)" if final.estimated else "")
        )
        # the engine's own time per attempt (not the provider's, not ours printing): the orchestration overhead
        engine_ms = [h.engine_ms for h in self.hops if h.kind == "attempt" and h.engine_ms is not None]
        table.add_column("engine", justify="right", footer=f"{sum(engine_ms):.2f}" if engine_ms else "")

        def started(hop: HopFinished) -> tuple[int, int]:
            number = _hop_number(hop.hop_id)
            return (0, number) if number is not None else (1, self._order.get(hop.hop_id, len(self._order)))

        for hop in sorted(self.hops, key=started):
            indent = "└ " if hop.kind == "attempt" else ""
            model = hop.model_id or ""
            usage = hop.usage or {}
            estimated = (
                bool(usage)
                and (usage.get("input_source") == "estimated" or usage.get("output_source") == "estimated")
                and (hop.input_tokens or hop.output_tokens)
            )
            table.add_row(
                f"{indent}{hop.name}",
                model,
                str(hop.attempt) if hop.attempt else "",
                Text(hop.status, style=STATUS_STYLE.get(hop.status, "")),
                f"{hop.latency_ms:.0f}",
                "" if hop.ttft_ms is None else f"{hop.ttft_ms:.0f}",
                str(hop.input_tokens) if hop.kind == "attempt" else "",
                str(hop.output_tokens) if hop.kind == "attempt" else "",
                (money(hop.cost_usd) + (" (est.)" if estimated else "")) if hop.kind == "attempt" else "",
                "" if hop.engine_ms is None else f"{hop.engine_ms:.2f}",
            )
        if final.error:
            table.caption = for_terminal(final.error)
        return table
