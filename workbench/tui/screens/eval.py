"""Eval (ctrl+t): run a dataset through several routes, watch a progress bar per route, then compare the results.

The form takes a dataset file (JSONL, CSV or promptfoo YAML; relative paths are looked up in the profile's
project, then in the shipped datasets), the routes (two picked to start), repeats and concurrency. Start runs the
eval in a worker through the same functions `workbench eval` uses (`load_dataset`, `run_eval`, `summarize`,
`save_eval`): every run goes through the app's `observe` (saved like any run, counted for health) and, when the
app saves, the eval's verdicts go to the store's `evals` tables. Progress is counted per finished run and drawn
on a timer. Then: a results table per route (pass rate with its 95% Wilson interval, p50/p95 latency, mean and
total cost, error/fallback/degraded rates), the package's plain-words verdict, and which route is cheapest, which
passes most and which are on the Pareto front. `x` exports the best route as a native profile next to the profile.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, SelectionList, Static

from workbench.errors import WorkbenchError
from workbench.tui.eval_model import (
    RESULT_COLUMNS,
    RouteProgress,
    best_route,
    default_dataset,
    export_path,
    pareto_line,
    resolve_dataset,
    result_rows,
)
from workbench.tui.routes import route_options

if TYPE_CHECKING:
    from workbench.engine.events import Event
    from workbench.tui.app import WorkbenchApp

PROGRESS_INTERVAL = 0.25  # seconds between progress redraws (not one redraw per finished run)


class _Observe:
    """The `writer` run_eval feeds every event to: the app's observer (store writer and health)."""

    def __init__(self, app: WorkbenchApp) -> None:
        self._app = app

    def submit(self, event: Event) -> None:
        self._app.observe(event)


class EvalScreen(Screen[None]):
    DEFAULT_CSS = """
    EvalScreen #eval-title { height: 1; padding: 0 2; color: $text-muted; }
    EvalScreen #eval-form { height: 3; }
    EvalScreen #eval-form Input { border-title-color: $text-muted; }
    EvalScreen #eval-dataset { width: 1fr; }
    EvalScreen #eval-repeat { width: 12; }
    EvalScreen #eval-concurrency { width: 17; }
    EvalScreen #eval-start { width: 11; min-width: 11; }
    EvalScreen #eval-middle { height: auto; max-height: 8; }
    EvalScreen #eval-routes { width: 24; height: auto; max-height: 8; border-title-color: $text-muted; }
    EvalScreen #eval-progress { width: 1fr; height: auto; padding: 0 1; }
    EvalScreen .eval-bar-row { height: 1; }
    EvalScreen .eval-bar-row Label { width: 12; }
    EvalScreen .eval-bar-row Bar { width: 16; }
    EvalScreen .eval-bar-row ProgressBar { width: auto; }
    EvalScreen .eval-bar-row .eval-bar-text { width: 1fr; padding-left: 1; }
    EvalScreen #eval-status { height: auto; padding: 0 1; color: $text-muted; }
    EvalScreen #eval-results { height: auto; max-height: 10; }
    EvalScreen #eval-verdict, EvalScreen #eval-pareto { height: auto; padding: 0 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "start", "Start eval", priority=True),  # not ctrl+j: an unbracketed pasted newline
        Binding("x", "export", "Export best"),
        Binding("escape", "cancel", "Stop"),
    ]

    def __init__(self) -> None:
        super().__init__(id="eval")
        self.progress: dict[str, RouteProgress] = {}
        self.summary: dict[str, Any] | None = None
        self.eval_id: str | None = None
        self.saved = False
        self._ticker: Timer | None = None
        self.exported: Any = None  # the last export's path

    @property
    def wapp(self) -> WorkbenchApp:
        from workbench.tui.host import workbench_app

        return workbench_app(self.app)

    def compose(self) -> ComposeResult:
        loaded = self.wapp.loaded
        routes = route_options(loaded)
        yield Static("eval · a dataset through routes · ctrl+s start · esc stop · x export best", id="eval-title")
        with VerticalScroll():
            with Horizontal(id="eval-form"):
                ds = Input(default_dataset(loaded), id="eval-dataset")
                ds.border_title = "dataset"
                yield ds
                rep = Input("1", type="integer", id="eval-repeat")
                rep.border_title = "repeat"
                yield rep
                conc = Input("10", type="integer", id="eval-concurrency")
                conc.border_title = "concurrency"
                yield conc
                yield Button("Start", id="eval-start", variant="primary")
            with Horizontal(id="eval-middle"):
                picks = SelectionList[str](*((r, r, i < 2) for i, r in enumerate(routes)), id="eval-routes")
                picks.border_title = "routes"
                yield picks
                yield Vertical(id="eval-progress")
            yield Static("pick routes and press ctrl+s", id="eval-status")
            table: DataTable[str] = DataTable(id="eval-results", cursor_type="row", zebra_stripes=True)
            table.add_columns(*RESULT_COLUMNS)
            yield table
            yield Static("", id="eval-verdict")
            yield Static("", id="eval-pareto")
        yield Footer()

    def on_mount(self) -> None:
        self._ticker = self.set_interval(PROGRESS_INTERVAL, self.draw_progress, pause=True)

    # -- the form --------------------------------------------------------------------------------------------
    def _number(self, widget_id: str, name: str, low: int, high: int) -> int:
        text = self.query_one(f"#{widget_id}", Input).value.strip()
        try:
            value = int(text)
        except ValueError:
            raise WorkbenchError(f"{name}: {text!r} is not a whole number") from None
        if not low <= value <= high:
            raise WorkbenchError(f"{name}: {value} is outside {low}..{high}")
        return value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "eval-start":
            self.action_start()

    @property
    def running(self) -> bool:
        return any(w.is_running for w in self.workers if w.group == "eval")

    def action_start(self) -> None:
        if self.running:
            self.notify("an eval is already running (esc stops it)", severity="warning")
            return
        try:
            routes = list(self.query_one("#eval-routes", SelectionList).selected)
            if not routes:
                raise WorkbenchError("pick at least one route")
            repeat = self._number("eval-repeat", "repeat", 1, 100)
            concurrency = self._number("eval-concurrency", "concurrency", 1, 1000)
            path = resolve_dataset(self.query_one("#eval-dataset", Input).value, self.wapp.loaded)
        except WorkbenchError as exc:
            self._status(str(exc))
            self.notify(str(exc), title="eval", severity="error")
            return
        self.start_eval(path, routes, repeat, concurrency)

    def action_cancel(self) -> None:
        for w in self.workers:
            if w.group == "eval" and w.is_running:
                w.cancel()
                self._status("stopped; nothing of this eval was saved as an eval (its finished runs were)")

    def _status(self, text: str) -> None:
        self.query_one("#eval-status", Static).update(text)

    # -- running ---------------------------------------------------------------------------------------------
    async def _show_bars(self, routes: list[str], total: int) -> None:
        self.progress = {r: RouteProgress(total) for r in routes}
        box = self.query_one("#eval-progress", Vertical)
        await box.remove_children()
        rows = []
        for i, r in enumerate(routes):
            bar = ProgressBar(total=total, show_eta=False, show_percentage=False, id=f"eval-bar-{i}")
            rows.append(Horizontal(Label(r), bar, Static("", classes="eval-bar-text"), classes="eval-bar-row"))
        await box.mount_all(rows)
        self.draw_progress()

    def draw_progress(self) -> None:
        for i, p in enumerate(self.progress.values()):
            rows = self.query(".eval-bar-row")
            if i >= len(rows):
                return
            row = rows[i]
            row.query_one(ProgressBar).update(progress=p.done)
            row.query_one(".eval-bar-text", Static).update(p.label())

    @work(exclusive=True, group="eval")
    async def start_eval(self, path: Any, routes: list[str], repeat: int, concurrency: int) -> None:
        from workbench.engine.run import new_run_id
        from workbench.eval.dataset import load_dataset
        from workbench.eval.report import summarize
        from workbench.eval.runner import run_eval
        from workbench.eval.store import save_eval

        app = self.wapp
        loaded = app.loaded
        self.summary, self.eval_id, self.saved = None, None, False
        self.query_one("#eval-results", DataTable).clear()
        self.query_one("#eval-verdict", Static).update("")
        self.query_one("#eval-pareto", Static).update("")
        self._status(f"reading {path}")
        try:
            dataset = await asyncio.to_thread(load_dataset, path)
        except WorkbenchError as exc:
            self._status(str(exc))
            self.notify(str(exc), title=exc.title, severity="error", timeout=10)
            return
        if any(c.type == "judge" for case in dataset.cases for c in case.checks):
            self._status(f"{path}: judge checks need `workbench eval --judge MODEL`; the screen runs without a judge")
        await self._show_bars(routes, len(dataset.cases) * repeat)
        self._status(f"{len(dataset.cases)} cases × {repeat} × {len(routes)} routes, {concurrency} at once · esc stops")

        def on_progress(o: Any) -> None:
            self.progress[o.route].add(o.passed, o.cost)

        assert self._ticker is not None
        self._ticker.resume()
        try:
            result = await run_eval(
                loaded,
                dataset.cases,
                routes,
                repeat=repeat,
                concurrency=concurrency,
                writer=_Observe(app),
                on_progress=on_progress,
                engine_factory=app.engines.factory,
            )
        finally:
            self._ticker.pause()
            self.draw_progress()
        summary = summarize(result)
        eval_id = new_run_id()
        summary["eval_id"] = eval_id
        if app.db_path is not None and getattr(app, "_event_sink", None) is not None:
            await asyncio.to_thread(
                save_eval,
                app.db_path,
                eval_id,
                result,
                summary,
                loaded=loaded,
                dataset=dataset,
                concurrency=concurrency,
                max_cost_usd=None,
            )
            self.saved = True
        self.summary, self.eval_id = summary, eval_id
        self.show_results(summary)
        where = f"saved as eval {eval_id}" if self.saved else "not saved (this TUI does not save)"
        self._status(f"done: ${Decimal(summary['spent_usd']):.6f} spent · {where}")

    def show_results(self, summary: dict[str, Any]) -> None:
        table = self.query_one("#eval-results", DataTable)
        table.clear()
        for row in result_rows(summary):
            table.add_row(*row, key=row[0])
        self.query_one("#eval-verdict", Static).update(summary["verdict"])
        self.query_one("#eval-pareto", Static).update(pareto_line(summary))

    # -- export ----------------------------------------------------------------------------------------------
    def action_export(self) -> None:
        from workbench.export import Provenance, export_route

        if self.summary is None:
            self.notify("run an eval first: x exports its best route", severity="warning")
            return
        route = best_route(self.summary)
        if route is None:
            self.notify("no route finished a run: nothing to export", severity="warning")
            return
        loaded = self.wapp.loaded
        s = self.summary["routes"][route]
        prov = Provenance(
            source=loaded.label,
            sha256=loaded.sha256,
            eval_id=self.eval_id if self.saved else None,
            pass_rate=s["pass_rate"],
            cost_per_1k_usd=s["cost_per_1k_runs_usd"],
        )
        target = export_path(loaded, route)
        try:
            result = export_route(loaded, route, "native", prov)
            target.write_text(result.text, encoding="utf-8")
        except WorkbenchError as exc:
            self.notify(str(exc), title=exc.title, severity="error", timeout=10)
            return
        except OSError as exc:
            self.notify(f"cannot write {target}: {exc.strerror or exc}", title="export", severity="error")
            return
        self.exported = target
        warn = f" ({len(result.warnings)} warnings: {'; '.join(result.warnings)})" if result.warnings else ""
        self.notify(f"exported route {route} to {target}{warn}", title="export", timeout=10)
