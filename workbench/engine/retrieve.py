"""The `retrieve` step executor: top-k chunks of a local folder (BM25 over SQLite FTS5) into `ctx.docs`.

The corpus path is relative to the profile file (the working directory for a profile loaded from text). The
index work runs in a thread (it reads files and SQLite); `workbench.retrieval` is imported here, lazily, so the
engine's import stays free of SQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from workbench.engine.context import StepCall, StepResult
from workbench.engine.events import Event, HopKind, HopStatus
from workbench.engine.subcall import Hop
from workbench.profiles.templates import render


def corpus_dir(call: StepCall) -> Path:
    corpus = Path(call.step.corpus).expanduser()
    if corpus.is_absolute():
        return corpus
    base = call.engine.loaded.path
    return (Path(base).parent if base else Path.cwd()) / corpus


async def retrieve_step(call: StepCall) -> AsyncIterator[Event]:
    from workbench.retrieval.index import search

    step = call.step
    hop = Hop(call, HopKind.RETRIEVE)
    yield hop.started()
    folder = corpus_dir(call)
    query = render(step.query, call.ctx.template_vars())
    try:
        hits, reindexed = await asyncio.to_thread(search, folder, query, step.top_k, step.chunk_tokens)
    except (OSError, FileNotFoundError) as exc:
        error = f"retrieval over {str(folder)!r} failed: {exc}"
        yield hop.finished(HopStatus.ERROR, error=error)
        call.result = StepResult(name=step.name, kind="retrieve", status="error", error=error)
        return
    if step.min_score is not None:
        hits = [h for h in hits if h.score >= step.min_score]
    docs = [h.as_doc() for h in hits]
    call.ctx.docs = docs
    data = {
        "corpus": str(folder),
        "query": query,
        "reindexed_files": reindexed,
        "docs": [{"id": h.id, "title": h.title, "score": h.score} for h in hits],
    }
    yield hop.finished(data=data, detail=f"{len(hits)} document(s)", score=hits[0].score if hits else None)
    call.result = StepResult(
        name=step.name, kind="retrieve", output=call.ctx.last_output, data=data, score=hits[0].score if hits else None
    )
