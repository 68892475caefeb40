"""Sessions: browse and search the saved runs (any number of them), open one, re-run it, delete, export.

The list is a virtual `RunList` over the store's keyset pages (`workbench.store.browse`): only the pages being
looked at are read and held (see `RunPages`), so 100,000 runs open and scroll like 100. The header says which
run the cursor is on "of" how many match. The search box searches as you type (150 ms after the last key, in a
thread worker that a newer query supersedes) and takes filters in the same line: `refund route:support
status:error model:sage since:2026-05-01 until:2026-05-31 cost>0.001` (see `sessions_model.SYNTAX`); the two
selects beside it set the route and the status too. Enter opens the run (session_run.py).

All store access runs in thread workers through one reader `Store` held by the screen behind a lock (a Store is
not thread-safe; page loads and searches may overlap). Nothing here runs SQL itself.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Input, Select, Static
from textual.worker import get_current_worker

from workbench.errors import WorkbenchError
from workbench.store.browse import STATUSES, RunFilter
from workbench.tui.sessions_model import RunPages, merge, parse_query
from workbench.tui.widgets.run_list import RunList, header_text

if TYPE_CHECKING:
    from workbench.store import Store
    from workbench.tui.app import WorkbenchApp

PAGE = 100  # rows per store read
MAX_PAGES = 12  # pages held at once (1,200 rows)
DEBOUNCE_S = 0.15  # search as you type: wait this long after the last key
ANY = "any"


class ConfirmDelete(ModalScreen[bool]):
    """Asks before a run is deleted (y / Enter deletes, n / Esc keeps it)."""

    DEFAULT_CSS = """
    ConfirmDelete { align: center middle; }
    ConfirmDelete > Vertical { width: 64; max-width: 100%; height: auto; border: round $error; background: $surface;
                               padding: 0 1; }
    ConfirmDelete Horizontal { height: auto; align-horizontal: right; }
    ConfirmDelete Button { margin: 0 1; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Delete"), Binding("n,escape", "answer(False)", "Keep")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "delete run?"
            yield Static(self.text, markup=False, id="confirm-text")
            with Horizontal():
                yield Button("Keep (n)", id="keep")
                yield Button("Delete (y)", id="delete", variant="error")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "delete")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class SessionsScreen(Screen[None]):
    DEFAULT_CSS = """
    #sessions-bar { height: 3; margin: 0 1; }
    #sessions-bar #search { width: 1fr; margin: 0; }
    #sessions-bar Select { width: 20; }
    #runs-box { height: 1fr; border: round $secondary 60%; padding: 0 0 0 1; }
    #runs-head { height: 1; color: $text-muted; }
    #runs-list { height: 1fr; }
    #runs-preview { height: 2; margin: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("ctrl+f,slash", "search", "Search"),
        Binding("enter", "open", "Open"),
        Binding("d,delete", "delete", "Delete"),
        Binding("e", "export", "Export"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__(id="sessions")
        self.pages = RunPages(PAGE, MAX_PAGES)
        self.filters = RunFilter()  # the newest query asked for
        self.shown = RunFilter()  # the query whose rows `pages` holds
        self.problems: list[str] = []
        self.position = ""  # "N of TOTAL", shown at the right of the column titles
        self.counting = False  # the first page is shown, its total is still being counted
        self._debounce: Timer | None = None
        self.debounce_s = DEBOUNCE_S
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._store_path: Path | None = None

    @property
    def wapp(self) -> WorkbenchApp:
        from workbench.tui.host import workbench_app

        return workbench_app(self.app)

    def compose(self) -> ComposeResult:
        routes = list(self.wapp.loaded.profile.routes)
        with Horizontal(id="sessions-bar"):
            yield Input(
                placeholder="search…  route:NAME status:error model:ALIAS since:YYYY-MM-DD cost>0.01", id="search"
            )
            yield Select([(f"route {r}", r) for r in routes], prompt="any route", id="route-filter")
            yield Select([(f"status {s}", s) for s in STATUSES], prompt="any status", id="status-filter")
        with Vertical(id="runs-box") as box:
            box.border_title = "runs"
            yield Static(id="runs-head")
            yield RunList(self.pages, id="runs-list")
        yield Static(id="runs-preview", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-box").border_subtitle = "enter open · / search · d delete · e export"

    def on_resize(self) -> None:
        self.call_after_refresh(self._show_position)

    def on_screen_resume(self) -> None:
        self.action_reload()
        self.run_list.focus()

    def on_unmount(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    @property
    def run_list(self) -> RunList:
        return self.query_one("#runs-list", RunList)

    # -- the store (worker threads only) -------------------------------------------------------------------------
    def _reader(self) -> Store | None:
        """The screen's reader, opened on first use (call with the lock held); None when there is no database."""
        db = self.wapp.db_path
        if db is None or not Path(db).exists():
            return None
        if self._store is None or self._store_path != Path(db):
            from workbench.store import open_store

            if self._store is not None:
                self._store.close()
            self._store, self._store_path = open_store(db, create=False), Path(db)
        return self._store

    # -- querying ------------------------------------------------------------------------------------------------
    def action_reload(self) -> None:
        self._query(self.filters, keep_cursor=True)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(self.debounce_s, self._apply_query)

    @on(Input.Submitted, "#search")
    def _submitted(self, event: Input.Submitted) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._apply_query()
        self.run_list.focus()

    @on(Select.Changed)
    def _selected_filter(self, event: Select.Changed) -> None:
        self._apply_query()

    def current_filters(self) -> RunFilter:
        parsed = parse_query(self.query_one("#search", Input).value)
        self.problems = parsed.problems
        route = self.query_one("#route-filter", Select).value
        status = self.query_one("#status-filter", Select).value
        return merge(
            parsed.filters,
            route=route if isinstance(route, str) else None,
            status=status if isinstance(status, str) else None,
        )

    def _apply_query(self) -> None:
        self._debounce = None
        filters = self.current_filters()
        if self.problems:
            self.query_one("#runs-preview", Static).update("⚠ " + "; ".join(self.problems))
        self.filters = filters
        self._query(filters, keep_cursor=False)

    @work(thread=True, exclusive=True, group="sessions-query", exit_on_error=False)
    def _query(self, filters: RunFilter, keep_cursor: bool) -> None:
        """The first page at once, then the count (which reads every match: up to tens of ms for a short prefix)."""
        worker = get_current_worker()
        try:
            with self._lock:
                store = self._reader()
                rows = [] if store is None else store.list_runs(PAGE, filters=filters, prefix_last=True)
            if worker.is_cancelled:
                return
            exact = len(rows) < PAGE
            self.app.call_from_thread(self._show_query, filters, len(rows), rows, keep_cursor, exact)
            if exact:
                return
            with self._lock:
                store = self._reader()
                total = 0 if store is None else store.count_runs(filters, prefix_last=True)
        except WorkbenchError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._query_failed, str(exc))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_total, filters, total)

    def _query_failed(self, message: str) -> None:
        self.counting = False
        self.query_one("#runs-preview", Static).update(f"⚠ {message}")

    def _show_query(
        self, filters: RunFilter, total: int, rows: list[dict[str, Any]], keep_cursor: bool, exact: bool
    ) -> None:
        self.pages.reset(total, rows)
        self.shown = filters
        self.counting = not exact
        self.query_one("#runs-box").border_title = "runs" if filters.is_empty() else "matching runs"
        self.run_list.reload(None if keep_cursor else 0)
        self._show_position()

    def _show_total(self, filters: RunFilter, total: int) -> None:
        if filters is not self.shown:
            return  # a newer query's rows are on screen
        self.pages.total = total
        self.counting = False
        self.run_list.reload()
        self._show_position()

    @on(RunList.NeedPage)
    def _need_page(self, event: RunList.NeedPage) -> None:
        if event.generation == self.pages.generation:
            self._load_page(event.page, event.generation, self.shown, self.pages.request(event.page))

    @work(thread=True, group="sessions-page", exit_on_error=False)
    def _load_page(self, page: int, generation: int, filters: RunFilter, request: dict[str, Any]) -> None:
        try:
            with self._lock:
                store = self._reader()
                rows = [] if store is None else store.list_runs(filters=filters, prefix_last=True, **request)
        except WorkbenchError as exc:
            self.app.call_from_thread(self.run_list.forget, page, generation)
            self.app.call_from_thread(self._query_failed, str(exc))
            return
        self.app.call_from_thread(self._page_loaded, page, generation, rows)

    def _page_loaded(self, page: int, generation: int, rows: list[dict[str, Any]]) -> None:
        if generation != self.pages.generation:
            return
        self.pages.put(page, rows, near=self.pages.page_of(self.run_list.cursor))
        self.run_list.page_arrived(page)

    # -- the header and the preview ------------------------------------------------------------------------------
    def _show_position(self) -> None:
        """The column titles with "N of TOTAL" at their right. (Not the box's title: setting that repaints the
        whole list, where this one line is all that changes as the cursor moves.)"""
        total = self.pages.total
        at = self.run_list.cursor + 1 if total else 0
        self.position = f"{at:,} of {total:,}+" if self.counting else f"{at:,} of {total:,}"
        width = self.run_list.scrollable_content_region.width or self.size.width - 4
        head = header_text(width)
        head.truncate(max(0, width - len(self.position) - 1))
        head.pad_right(max(0, width - head.cell_len - len(self.position)))
        head.append(self.position, style="bold")
        self.query_one("#runs-head", Static).update(head, layout=False)

    @on(RunList.Highlighted)
    def _highlighted(self, event: RunList.Highlighted) -> None:
        self._show_position()
        if self.problems:
            return
        row = event.row
        preview = self.query_one("#runs-preview", Static)
        if row is None:
            preview.update("" if self.pages.total else self._empty_text(), layout=False)
        else:
            prompt = " ".join(str(row.get("prompt") or "").split())
            preview.update(f"{row['id']} · session {row.get('session') or '–'} · {prompt}", layout=False)

    def _empty_text(self) -> str:
        db = self.wapp.db_path
        if db is None or not Path(db).exists():
            return "no session database yet: runs are saved as you send them"
        return "no runs match" if not self.filters.is_empty() else "no runs saved yet: send a prompt in the playground"

    # -- acting on the run under the cursor ----------------------------------------------------------------------
    def _selected(self) -> dict[str, Any] | None:
        return self.run_list.row

    @on(RunList.Selected)
    def _open_selected(self, event: RunList.Selected) -> None:
        self._open(str(event.row["id"]))

    def action_open(self) -> None:
        row = self._selected()
        if row is not None:
            self._open(str(row["id"]))

    def _open(self, run_id: str) -> None:
        from workbench.tui.screens.session_run import SessionRunScreen

        self.app.push_screen(SessionRunScreen(run_id))

    def action_delete(self) -> None:
        row = self._selected()
        if row is None:
            return
        prompt = " ".join(str(row.get("prompt") or "").split())[:120]
        text = f"Delete run {row['id']} ({row.get('route')}, {row.get('status')}) with its hops?\n\n{prompt}"

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(str(row["id"]))

        self.app.push_screen(ConfirmDelete(text), answered)

    @work(thread=True, group="sessions-write", exit_on_error=False)
    def _delete(self, run_id: str) -> None:
        with self._lock:
            store = self._reader()
            if store is None:
                return
            store.delete_run(run_id)
        self.app.call_from_thread(self.notify, f"deleted run {run_id}")
        self.app.call_from_thread(self.action_reload)

    def action_export(self) -> None:
        row = self._selected()
        if row is not None:
            self._export(str(row["id"]))

    @work(thread=True, group="sessions-write", exit_on_error=False)
    def _export(self, run_id: str) -> None:
        with self._lock:
            store = self._reader()
            if store is None:
                return
            detail = store.get_run(run_id)
        path = export_run(Path(store.path), detail)
        self.app.call_from_thread(self.notify, f"exported to {path}")


def export_run(db: Path, detail: Any) -> Path:
    """The run as JSON beside the database (exports/run-ID.json). Returns the file written."""
    out = db.parent / "exports" / f"run-{detail.run['id']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {"run": detail.run, "hops": detail.hops, "messages": detail.messages, "decisions": detail.decisions}
    out.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return out
