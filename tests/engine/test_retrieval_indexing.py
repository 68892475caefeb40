"""Indexing a large corpus: chunking costs time linear in the text (not one token count per word), a file over the
size bound (10 MiB) is skipped and named, and cancelling a run mid-indexing stops it promptly while keeping the
files already indexed (the next run indexes only the rest)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path

import pytest

import workbench.retrieval.index as index_module
from tests.engine.semantics_profile import of
from workbench.engine import CancelToken, Engine
from workbench.profiles.load import loads_profile
from workbench.retrieval.index import MAX_FILE_BYTES, chunk_text, index_path
from workbench.tokens import count_text


def profile_text(corpus: Path) -> str:
    return f"""
name: r
providers: {{local: {{kind: sim, wire: openai}}}}
models: {{m: {{provider: local, model: sim-m, prices: [{{input: 1, output: 1}}], sim: {{ttft_ms: 0, answer_tokens: 5}}}}}}
routes:
  ask: {{steps: [{{kind: retrieve, name: find, corpus: "{corpus}", top_k: 2}}, {{name: answer, targets: [m]}}]}}
"""


@pytest.fixture(autouse=True)
def private_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "wb.db"))


def test_chunking_a_long_paragraph_counts_each_character_a_few_times(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    words = [rng.choice(["alpha", "beta", "Überweisung", "東京", "refund", "x" * 40]) for _ in range(60_000)]
    text = " ".join(words)  # one paragraph of ~430 KB: the case that took minutes at 50 MB
    counted = [0]

    def counting(s: str, encoding: str = "o200k_base") -> int:  # the real tokenizer, with a tally
        counted[0] += len(s)
        return count_text(s, encoding)

    monkeypatch.setattr(index_module, "count_text", counting)
    chunks = chunk_text(text, "doc", 4000)
    assert counted[0] <= 12 * len(text)  # before: every word re-counted its whole chunk so far (~1000x)
    bodies = [body for _, body in chunks]
    assert " ".join(bodies).split() == words  # nothing lost, nothing reordered
    sizes = [count_text(b) for b in bodies]
    assert max(sizes) <= 4000 and min(sizes[:-1]) >= 4000 * 0.9  # within the bound, and nearly full


def test_a_word_longer_than_the_bound_is_cut_to_fit() -> None:
    blob = "".join(random.Random(5).choice("abcdef0123456789+/") for _ in range(20_000))  # base64-like, no spaces
    chunks = chunk_text(f"# Blob\n\n{blob}\n", "doc", 300)
    assert "".join(body for _, body in chunks) == blob
    assert all(count_text(body) <= 300 for _, body in chunks) and len(chunks) > 1


async def test_a_file_over_the_size_bound_is_skipped_and_named(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "refunds.md").write_text("Refunds reach the card within five business days.\n")
    with open(corpus / "dump.txt", "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: one byte over the bound
    async with Engine(loads_profile(profile_text(corpus))) as engine:
        events = [e async for e in engine.run("refunds card", route="ask")]
    assert events[-1].status == "ok"
    hop = of(events, "hop_finished", kind="retrieve")[0]
    assert hop.data["skipped"] == [{"file": "dump.txt", "why": "10.0 MiB, over the 10 MiB limit"}]
    assert [d["id"] for d in hop.data["docs"]] == ["refunds.md#0"]
    notes = [d for d in of(events, "decision") if d.action == "skip"]
    assert len(notes) == 1 and "dump.txt (10.0 MiB, over the 10 MiB limit)" in notes[0].reason


def _files_indexed(corpus: Path) -> int:
    with sqlite3.connect(index_path(corpus, 400)) as conn:
        return int(conn.execute("SELECT count(*) FROM files").fetchone()[0])


async def test_cancelling_mid_indexing_stops_promptly_and_keeps_what_was_indexed(tmp_path: Path) -> None:
    rng = random.Random(9)
    corpus = tmp_path / "docs"
    corpus.mkdir()
    vocabulary = [f"w{i}" for i in range(2000)]
    block = "\n\n".join(" ".join(rng.choice(vocabulary) for _ in range(50)) for _ in range(100))
    files = 40
    for i in range(files):
        (corpus / f"f{i:02}.md").write_text("\n\n".join([block] * 12))  # ~330 KB each, ~13 MB in all
    token = CancelToken()
    progress: list[int] = []
    cancelled_at = None
    async with Engine(loads_profile(profile_text(corpus))) as engine:
        events = []
        async for event in engine.run("w1 w2", route="ask", cancel=token):
            events.append(event)
            if event.type == "progress" and event.phase == "indexing":
                progress.append(event.done)
                if event.done >= 2 and cancelled_at is None:
                    cancelled_at = time.monotonic()
                    token.cancel()
        ended = time.monotonic()
        assert cancelled_at is not None, progress
        assert events[-1].status == "cancelled" and ended - cancelled_at < 5
        assert of(events, "hop_finished", kind="retrieve")[0].status == "cancelled"
        await asyncio.sleep(0)
        kept = _files_indexed(corpus)
        assert 2 <= kept < files
        again = [e async for e in engine.run("w1 w2", route="ask")]
    assert again[-1].status == "ok"
    assert of(again, "hop_finished", kind="retrieve")[0].data["reindexed_files"] == files - kept
    assert _files_indexed(corpus) == files
