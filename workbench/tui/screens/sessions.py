"""Sessions: browse and full-text search the saved runs, open one (answer and hops as recorded), delete, export.

All store access runs in thread workers through `workbench.store`'s public API (one Store per call: a Store is
not thread-safe). The list loads in pages of 200 as the cursor nears the end (the store's `list_runs` takes a
limit but no offset, so a page is a larger limit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from workbench.tui.fmt import usd

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

PAGE = 200


def _open(db: Path | None) -> Any:
    from workbench.store import open_store

    return open_store(db, create=False)


def describe_run(detail: Any) -> str:
    run = detail.run
    lines = [
        f"run {run['id']} · {run['route']} · {run['status']} · {run.get('latency_ms') or 0:,.0f} ms"
        f" · ${usd(run.get('cost_exact') or run.get('cost_usd') or 0)}",
        "",
        "prompt:",
        str(run.get("prompt") or ""),
        "",
        "answer:",
        str(run.get("output") or ""),
        "",
        "hops:",
    ]
    for hop in detail.hops:
        indent = "  " if hop.get("parent_id") else ""
        lines.append(
            f"{indent}{hop['kind']:<8} {hop.get('name') or hop.get('model') or '':<14} {hop['status']:<9}"
            f" {hop.get('latency_ms') or 0:>7,.0f} ms  {hop.get('output_tokens') or 0:>5} tok"
            f"  ${usd(hop.get('cost_exact') or 0)}" + (f"  {hop['error']}" if hop.get("error") else "")
        )
    for d in detail.decisions:
        lines.append(f"  › {d.get('action')} → {d.get('target') or ''}: {d.get('reason') or ''}")
    return "\n".join(lines)


class SessionsScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+f,slash", "search", "Search"),
        Binding("d", "delete", "Delete"),
        Binding("e", "export", "Export"),
        Binding("f6", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__(id="sessions")
        self.limit = PAGE
        self.query_text = ""
        self.loaded_rows = 0

    @property
    def wapp(self) -> WorkbenchApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search runs (full text; Enter searches, empty lists all)", id="search")
        with Horizontal(id="sessions-body"):
            table: DataTable[Text] = DataTable(id="runs", cursor_type="row")
            yield table
            with VerticalScroll(id="run-detail"):
                yield Static("select a run", id="run-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for col in ("when", "route", "status", "ms", "cost", "prompt"):
            table.add_column(col, key=col)
        self.query_one("#run-detail").border_title = "run"

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self._load(self.query_text, self.limit)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Input.Submitted, "#search")
    def _searched(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.limit = PAGE
        self._load(self.query_text, self.limit)

    @work(thread=True, exclusive=True, group="sessions-load", exit_on_error=False)
    def _load(self, text: str, limit: int) -> None:
        db = self.wapp.db_path
        if db is None or not Path(db).exists():
            self.app.call_from_thread(self._show_rows, [], "no session database yet: runs are saved as you send them")
            return
        with _open(db) as store:
            rows = store.search(text, limit=limit, literal=True) if text else store.list_runs(limit=limit)
        self.app.call_from_thread(self._show_rows, rows, None)

    def _show_rows(self, rows: list[dict[str, Any]], note: str | None) -> None:
        table = self.query_one("#runs", DataTable)
        keep = table.cursor_row
        table.clear()
        for r in rows:
            prompt = r.get("prompt") or r.get("prompt_snippet") or ""
            table.add_row(
                Text(str(r.get("started_at") or "")[11:19]),
                Text(str(r.get("route") or "")),
                Text(str(r.get("status") or "")),
                Text(f"{r.get('latency_ms') or 0:,.0f}", justify="right"),
                Text(usd(r.get("cost_exact") or r.get("cost_usd") or 0), justify="right"),
                Text(" ".join(str(prompt).split())[:60]),
                key=str(r["id"]),
            )
        self.loaded_rows = len(rows)
        table.border_title = f"runs · {len(rows)}{'+' if len(rows) >= self.limit else ''}" + (
            f" · search {self.query_text!r}" if self.query_text else ""
        )
        if note:
            self.query_one("#run-text", Static).update(note)
        if rows and keep is not None:
            table.move_cursor(row=min(keep, len(rows) - 1))

    @on(DataTable.RowHighlighted, "#runs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self._open_run(event.row_key.value)
        if event.cursor_row >= self.loaded_rows - 5 and self.loaded_rows >= self.limit:
            self.limit += PAGE  # the next page
            self._load(self.query_text, self.limit)

    @work(thread=True, exclusive=True, group="sessions-open", exit_on_error=False)
    def _open_run(self, run_id: str) -> None:
        with _open(self.wapp.db_path) as store:
            text = describe_run(store.get_run(run_id))
        self.app.call_from_thread(self.query_one("#run-text", Static).update, text)

    def _selected(self) -> str | None:
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_delete(self) -> None:
        run_id = self._selected()
        if run_id:
            self._delete(run_id)

    @work(thread=True, group="sessions-write", exit_on_error=False)
    def _delete(self, run_id: str) -> None:
        with _open(self.wapp.db_path) as store:
            store.delete_run(run_id)
        self.app.call_from_thread(self.notify, f"deleted run {run_id[:12]}")
        self.app.call_from_thread(self.action_reload)

    def action_export(self) -> None:
        run_id = self._selected()
        if run_id:
            self._export(run_id)

    @work(thread=True, group="sessions-write", exit_on_error=False)
    def _export(self, run_id: str) -> None:
        db = Path(self.wapp.db_path or ".")
        with _open(db) as store:
            detail = store.get_run(run_id)
        out = db.parent / "exports" / f"run-{run_id}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        data = {"run": detail.run, "hops": detail.hops, "messages": detail.messages, "decisions": detail.decisions}
        out.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        self.app.call_from_thread(self.notify, f"exported to {out}")
