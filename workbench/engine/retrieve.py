"""The `retrieve` step executor: top-k chunks of a local folder (BM25 over SQLite FTS5) into `ctx.docs`.

The corpus path is relative to the profile file (the working directory for a profile loaded from text). The
index work runs in a worker thread (it reads files, chunks them and writes SQLite: seconds for a large corpus), so
the event loop stays free: signals are handled, other runs go on, and the step reports `progress` events while it
indexes or waits for another run or process that is indexing the same corpus. Cancelling the run stops the
indexing promptly (between files, and inside long ones); what was indexed so far is kept.

Files the index refused (links leading out of the folder) or skipped (too large, unreadable) are named in one
decision each, and in the hop's data; a damaged index cache is rebuilt, with a `progress` note (`phase: note`)
and `rebuilt` in the hop's data saying so.

`workbench.retrieval` is imported here, lazily, so the engine's import stays free of SQL.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import Decision, DecisionAction, Event, HopKind, HopStatus, Progress
from workbench.engine.subcall import Hop
from workbench.profiles.templates import render

FIRST_PROGRESS_S = 0.3  # work shorter than this is not worth a progress line
PROGRESS_EVERY_S = 1.0
STOP_GRACE_S = 5.0  # after a cancel, how long to wait for the indexing thread to notice and close its files
_NAMES_SHOWN = 10  # files named in a decision; the rest are counted


def corpus_dir(call: StepCall) -> Path:
    corpus = Path(call.step.corpus).expanduser()
    if corpus.is_absolute():
        return corpus
    base = call.engine.loaded.path
    return (Path(base).parent if base else Path.cwd()) / corpus


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_NAMES_SHOWN])
    return shown + (f" and {len(items) - _NAMES_SHOWN} more" if len(items) > _NAMES_SHOWN else "")


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f}"


class _Reporter:
    """Turns the indexing thread's frequent progress callbacks into a few `Progress` events on the loop."""

    def __init__(self, call: StepCall, hop: Hop, label: str, post: Any) -> None:
        self.call, self.hop, self.label, self.post = call, hop, label, post
        self.t0 = time.monotonic()
        self.shown_at: float | None = None
        self.phase: str | None = None
        self.waited = False
        self.indexed = False

    def event(self, phase: str, done: int, total: int, message: str) -> Progress:
        return Progress(
            run_id=self.call.state.run_id, hop_id=self.hop.id, phase=phase, done=done, total=total, message=message
        )

    def __call__(self, p: Any) -> None:  # in the indexing thread
        now = time.monotonic()
        if p.phase == "waiting":
            self.waited = True
        else:
            self.indexed = True
        if self.shown_at is None:
            if now - self.t0 < FIRST_PROGRESS_S:
                return
        elif p.phase == self.phase and now - self.shown_at < PROGRESS_EVERY_S:
            return
        self.shown_at, self.phase = now, p.phase
        if p.phase == "waiting":
            who = "another run" if p.by_pid in (None, os.getpid()) else f"another workbench (pid {p.by_pid})"
            far = f": {p.done}/{p.total} files" if p.total else ""
            message = f"waiting for {who} indexing {self.label}{far}"
        else:
            size = f", {_mb(p.bytes_done)}/{_mb(p.bytes_total)} MB" if p.bytes_total >= 1_000_000 else ""
            message = f"indexing {self.label}: {p.done}/{p.total} files{size}"
        self.post(("progress", self.event(p.phase, p.done, p.total, message)))

    def finished(self, changed: int) -> Progress | None:
        if self.shown_at is None:
            return None
        took = time.monotonic() - self.t0
        if self.indexed:
            message = f"indexed {self.label}: {changed} file(s) in {took:.1f} s"
        else:
            message = f"index of {self.label} ready after waiting {took:.1f} s"
        return self.event("done", changed, changed, message)


async def retrieve_step(call: StepCall) -> AsyncIterator[Event]:
    from workbench.retrieval.index import IndexingStopped, RetrievalError, search_index

    step = call.step
    hop = Hop(call, HopKind.RETRIEVE)
    yield hop.started()
    folder = corpus_dir(call)
    query = render(step.query, call.ctx.template_vars())
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def post(item: tuple[str, Any]) -> None:  # from the indexing thread
        try:
            loop.call_soon_threadsafe(inbox.put_nowait, item)
        except RuntimeError:  # the loop is gone (the run was abandoned): nobody is listening
            pass

    stop = threading.Event()
    reporter = _Reporter(call, hop, repr(str(folder)), post)

    def work() -> None:
        try:
            found = search_index(folder, query, step.top_k, step.chunk_tokens, progress=reporter, stop=stop)
        except BaseException as exc:  # noqa: BLE001 - the thread hands every outcome to the loop, which decides
            post(("error", exc))
        else:
            post(("done", found))

    worker = threading.Thread(target=work, name=f"workbench-index:{folder.name}")
    worker.start()
    outcome: tuple[str, Any] | None = None
    try:
        while outcome is None:
            if call.cancel.cancelled:  # set while this generator was suspended at a yield
                break
            try:
                with call.cancel.awaiting():
                    item = await inbox.get()
            except asyncio.CancelledError:
                if not call.cancel.absorb():
                    raise
                break
            if item[0] == "progress":
                yield item[1]
            else:
                outcome = item
    finally:
        if outcome is None:
            stop.set()
    if outcome is None:  # cancelled: let the thread notice (it checks often) so its files are closed cleanly
        deadline = loop.time() + STOP_GRACE_S
        while worker.is_alive():  # the thread always posts one last item ("done" or "error") as it ends
            try:
                last_item = await asyncio.wait_for(inbox.get(), timeout=max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
            if last_item[0] != "progress":
                break
        yield hop.finished(HopStatus.CANCELLED, reason=call.cancel.reason)
        call.result = StepResult(
            name=step.name, kind="retrieve", status="cancelled", error=call.cancel.reason, reason=call.cancel.reason
        )
        return
    kind, value = outcome
    if kind == "error":
        if isinstance(value, IndexingStopped):  # only our own stop sets it; treat like a cancel
            value = RetrievalError("indexing was stopped")
        if not isinstance(value, OSError | RetrievalError):
            raise value
        error = f"retrieval over {str(folder)!r} failed: {value}"
        yield hop.finished(HopStatus.ERROR, error=error)
        call.result = StepResult(name=step.name, kind="retrieve", status="error", error=error)
        return
    hits, done = value
    last = reporter.finished(done.changed)
    if last is not None:
        yield last
    if done.rebuilt:
        yield reporter.event("note", 0, 0, done.rebuilt)
    for event in _notes(call, hop, folder, done):
        yield event
    if step.min_score is not None:
        hits = [h for h in hits if h.score >= step.min_score]
    docs = [h.as_doc() for h in hits]
    call.ctx.docs = docs
    data: dict[str, Any] = {
        "corpus": str(folder),
        "query": query,
        "reindexed_files": done.changed,
        "docs": [{"id": h.id, "title": h.title, "score": h.score} for h in hits],
    }
    if done.refused:
        data["refused"] = list(done.refused)
    if done.skipped:
        data["skipped"] = [{"file": name, "why": why} for name, why in done.skipped]
    if done.rebuilt:
        data["rebuilt"] = done.rebuilt
    if done.waited_s:
        data["waited_s"] = round(done.waited_s, 3)
    yield hop.finished(data=data, detail=f"{len(hits)} document(s)", score=hits[0].score if hits else None)
    call.result = StepResult(
        name=step.name, kind="retrieve", output=call.ctx.last_output, data=data, score=hits[0].score if hits else None
    )


def _notes(call: StepCall, hop: Hop, folder: Path, done: Any) -> list[Decision]:
    """One decision per kind of file the index left out (refused links, skipped files), naming them."""
    out: list[Decision] = []
    run_id = call.state.run_id
    if done.refused:
        out.append(
            Decision(
                run_id=run_id,
                hop_id=hop.id,
                action=DecisionAction.REFUSE,
                reason=f"not indexed: {_names(done.refused)} in {str(folder)!r} lead(s) outside the corpus folder",
                data={"files": list(done.refused), "why": "link resolves outside the corpus folder"},
            )
        )
    if done.skipped:
        out.append(
            Decision(
                run_id=run_id,
                hop_id=hop.id,
                action=DecisionAction.SKIP,
                reason=f"not indexed in {str(folder)!r}: {_names([f'{n} ({why})' for n, why in done.skipped])}",
                data={"files": [{"file": n, "why": why} for n, why in done.skipped]},
            )
        )
    return out
