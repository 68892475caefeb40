"""Retrieval: chunking by headings and a token bound, BM25 over SQLite FTS5 returning the expected documents,
re-indexing a changed file (and only it), and the `retrieve` step filling the context with a `retrieve` hop."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engine.semantics_profile import collect, of
from workbench.engine import Engine
from workbench.profiles.load import loads_profile
from workbench.retrieval.index import chunk_text, search
from workbench.tokens import count_text

DOCS = {
    "refunds.md": "# Refunds\n\nA refund is paid to the original card within 5 business days of the return.\n",
    "shipping.md": "# Shipping\n\nParcels ship from Rotterdam. Express delivery takes one day.\n",
    "passwords.txt": "To reset a password, open Settings, choose Security and press Reset password.\n",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    "query, source",
    [
        ("how long does a refund take", "refunds.md"),
        ("express delivery from Rotterdam", "shipping.md"),
        ("I forgot my password", "passwords.txt"),
    ],
)
def test_known_queries_find_their_document(corpus: Path, tmp_path: Path, query: str, source: str) -> None:
    hits, _ = search(corpus, query, top_k=3, directory=tmp_path / "idx")
    assert hits[0].source == source and hits[0].score > 0
    assert all(h.score <= hits[0].score for h in hits)


def test_changed_file_is_reindexed_and_only_it(corpus: Path, tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    _, first = search(corpus, "refund", top_k=1, directory=idx)
    _, again = search(corpus, "refund", top_k=1, directory=idx)
    assert (first, again) == (3, 0)
    target = corpus / "shipping.md"
    target.write_text("# Shipping\n\nParcels now ship by zeppelin from Friedrichshafen.\n")
    hits, changed = search(corpus, "zeppelin", top_k=1, directory=idx)
    assert changed == 1 and hits[0].source == "shipping.md"
    assert search(corpus, "Rotterdam", top_k=1, directory=idx)[0] == []
    # same bytes, new mtime: hashed, not re-chunked
    os.utime(corpus / "refunds.md", ns=(1, 1))
    assert search(corpus, "refund", top_k=1, directory=idx)[1] == 0
    (corpus / "refunds.md").unlink()
    hits, changed = search(corpus, "refund", top_k=3, directory=idx)
    assert changed == 1 and hits == []


def test_chunks_follow_headings_and_the_token_bound() -> None:
    text = "# A\n\n" + "alpha " * 30 + "\n\n" + "beta " * 30 + "\n\n# B\n\nshort\n"
    chunks = chunk_text(text, "doc", 40)
    assert [t for t, _ in chunks] == ["A", "A", "B"]
    assert all(count_text(body) <= 40 for _, body in chunks)


async def test_retrieve_step_fills_docs_and_reports_them(corpus: Path) -> None:
    loaded = loads_profile(
        f"""
name: r
providers: {{local: {{kind: sim, wire: openai}}}}
models: {{m: {{provider: local, model: sim-m, prices: [{{input: 1, output: 1}}], sim: {{ttft_ms: 0}}}}}}
routes:
  ask:
    steps:
      - {{kind: retrieve, name: find, corpus: "{corpus}", top_k: 2}}
      - {{name: answer, targets: [m], prompt: "Context: {{{{ docs[0].text }}}} Question: {{{{ input }}}}"}}
"""
    )
    async with Engine(loaded) as engine:
        events = await collect(engine, "how do I reset my password", route="ask")
        sent = engine._sim.last_prompt("sim-m").messages[-1]["content"]  # type: ignore[union-attr]
    hop = of(events, "hop_finished", kind="retrieve")[0]
    assert hop.data["docs"][0]["id"] == "passwords.txt#0"
    assert "open Settings, choose Security" in sent
    assert events[-1].status == "ok"
