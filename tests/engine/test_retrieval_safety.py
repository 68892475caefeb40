"""What retrieval reads and keeps: a link out of the corpus folder is refused (its text reaches neither the model nor
the index cache) and named once; the cache is private (0600, its directory 0700); a file deleted while indexing is
left out, not a failed step; a damaged cache is rebuilt, with a note, not a traceback. Real files, real links, real
SQLite caches; the simulator records what the model was sent."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workbench.retrieval.index as index_module
from tests.engine.semantics_profile import of
from workbench.engine import Engine
from workbench.profiles.load import loads_profile
from workbench.retrieval.index import index_path, search_index

SECRET = "zebracorn-secret-7731"


def profile_text(corpus: Path) -> str:
    return f"""
name: r
providers: {{local: {{kind: sim, wire: openai}}}}
models: {{m: {{provider: local, model: sim-m, prices: [{{input: 1, output: 1}}], sim: {{ttft_ms: 0, answer_tokens: 5}}}}}}
routes:
  ask:
    steps:
      - {{kind: retrieve, name: find, corpus: "{corpus}", top_k: 5}}
      - name: answer
        targets: [m]
        prompt: "Context: {{% for d in docs %}}[{{{{ d.text }}}}] {{% endfor %}}Question: {{{{ input }}}}"
"""


async def run_and_prompt(corpus: Path, question: str) -> tuple[list[Any], str]:
    """The run's events and the documents the model was sent (the prompt's context, without the question)."""
    async with Engine(loads_profile(profile_text(corpus))) as engine:
        events = [e async for e in engine.run(question, route="ask")]
        sent = engine._sim.last_prompt("sim-m").messages[-1]["content"]  # type: ignore[union-attr]
    return events, sent.split("Question:")[0]


def cache_bytes(corpus: Path) -> bytes:
    path = index_path(corpus, 400)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


@pytest.fixture(autouse=True)
def private_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "store" / "wb.db"))
    old = os.umask(0o022)  # a common umask: files would be 0644 unless created private on purpose
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "passwords.md").write_text("# Passwords\n\nTo reset a password, open Settings and press Reset.\n")
    (root / "refunds.md").write_text("# Refunds\n\nRefunds reach the card within five days.\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "etc" / "shadow"
    secret.parent.mkdir()
    secret.write_text(f"root:{SECRET}:password hash of the machine\n")
    (secret.parent / "notes.md").write_text(f"{SECRET} password notes outside the corpus\n")
    return secret


async def test_links_out_of_the_folder_are_refused_and_named_once(corpus: Path, outside: Path) -> None:
    (corpus / "shadow.txt").symlink_to(outside)
    (corpus / "etc").symlink_to(outside.parent, target_is_directory=True)  # a linked folder that leads out
    (corpus / "pw-alias.md").symlink_to(corpus / "passwords.md")  # a link that stays inside is fine
    events, sent = await run_and_prompt(corpus, f"password {SECRET} root hash")
    assert events[-1].status == "ok"
    assert SECRET not in sent and "open Settings and press Reset" in sent
    hop = of(events, "hop_finished", kind="retrieve")[0]
    assert hop.data["refused"] == ["etc/", "shadow.txt"]
    assert {d["id"].split("#")[0] for d in hop.data["docs"]} == {"passwords.md", "pw-alias.md"}
    refusals = [d for d in of(events, "decision") if d.action == "refuse"]
    assert len(refusals) == 1
    assert "etc/, shadow.txt" in refusals[0].reason and "outside the corpus folder" in refusals[0].reason
    assert SECRET.encode() not in cache_bytes(corpus)


async def test_a_file_replaced_by_a_link_out_leaves_no_trace_in_the_cache(corpus: Path, outside: Path) -> None:
    # what a cache built by a workbench that followed links holds: the outside file's text, under the link's name
    (corpus / "shadow.txt").write_text(outside.read_text())
    await run_and_prompt(corpus, "password")
    assert SECRET.encode() in cache_bytes(corpus)
    (corpus / "shadow.txt").unlink()
    (corpus / "shadow.txt").symlink_to(outside)
    events, sent = await run_and_prompt(corpus, f"password {SECRET}")
    assert SECRET not in sent
    assert of(events, "hop_finished", kind="retrieve")[0].data["refused"] == ["shadow.txt"]
    assert SECRET.encode() not in cache_bytes(corpus)  # the deleted text is overwritten, not just unlinked


async def test_the_index_cache_is_private(corpus: Path) -> None:
    events, _ = await run_and_prompt(corpus, "refund")
    assert events[-1].status == "ok"
    path = index_path(corpus, 400)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(f"{path}.lock").stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)  # a cache an older workbench left readable by everyone is narrowed on next use
    await run_and_prompt(corpus, "refund")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_file_deleted_while_indexing_is_left_out(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (corpus / "zz-last.md").write_text("# Last\n\nParcels ship from Rotterdam.\n")
    real_chunk_text = index_module.chunk_text

    def chunk_and_delete(*args: Any, **kwargs: Any) -> Any:  # the real chunker; the first call deletes a later file
        (corpus / "zz-last.md").unlink(missing_ok=True)
        return real_chunk_text(*args, **kwargs)

    monkeypatch.setattr(index_module, "chunk_text", chunk_and_delete)
    events, sent = await run_and_prompt(corpus, "password parcels Rotterdam")
    assert events[-1].status == "ok"
    hop = of(events, "hop_finished", kind="retrieve")[0]
    assert hop.status == "ok" and hop.data["reindexed_files"] == 2
    assert "open Settings" in sent and "Rotterdam" not in sent
    with sqlite3.connect(index_path(corpus, 400)) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT path FROM files")) == ["passwords.md", "refunds.md"]


@pytest.mark.parametrize("damage", ["garbage", "pages"])
async def test_a_damaged_cache_is_rebuilt_with_a_note(corpus: Path, damage: str) -> None:
    events, _ = await run_and_prompt(corpus, "refund")
    path = index_path(corpus, 400)
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data[:] = b"this is not a database " * 200
    else:  # the header survives; every other page after the schema is overwritten
        for offset in range(4096 * 2, len(data), 4096 * 2):
            data[offset : offset + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    events, sent = await run_and_prompt(corpus, "refunds card")
    assert events[-1].status == "ok"
    assert "Refunds reach the card" in sent
    hop = of(events, "hop_finished", kind="retrieve")[0]
    assert "was damaged" in hop.data["rebuilt"] and hop.data["reindexed_files"] == 2
    notes = [e for e in events if e.type == "progress" and e.phase == "note"]
    assert len(notes) == 1 and str(path) in notes[0].message and "rebuilt" in notes[0].message


def test_the_library_call_rebuilds_a_damaged_cache_too(corpus: Path, tmp_path: Path) -> None:
    directory = tmp_path / "idx"
    search_index(corpus, "refunds", 3, directory=directory)
    index_path(corpus, 400, directory).write_bytes(b"\0" * 8192)
    hits, done = search_index(corpus, "refunds", 3, directory=directory)
    assert [h.source for h in hits] == ["refunds.md"] and done.rebuilt is not None


def test_odd_entries_are_named_safely_and_left_out(corpus: Path, tmp_path: Path) -> None:
    os.mkfifo(corpus / "pipe.md")  # reading it would block forever
    (corpus / "bell\x1b]0;pwned\x07.md").write_text("Refunds, with a name that holds a terminal escape.\n")
    (corpus / os.fsdecode(b"latin\xe9.md")).write_text("Refunds under a name that is not UTF-8.\n")
    (corpus / "loop.md").symlink_to(corpus / "loop.md")
    hits, done = search_index(corpus, "refunds", 5, directory=tmp_path / "idx")
    assert sorted(h.source for h in hits) == ["bell\x1b]0;pwned\x07.md", "refunds.md"]
    assert sorted(done.skipped) == [
        ("latin\\xe9.md", "its name is not valid UTF-8"),
        ("loop.md", "not a regular file"),
        ("pipe.md", "not a regular file"),
    ]
    (corpus / "pipe.md").unlink()
    (corpus / "bell\x1b]0;pwned\x07.md").rename(corpus / "out\x1b[2J.md")
    (corpus / "out\x1b[2J.md").unlink()
    (corpus / "out\x1b[2J.md").symlink_to(tmp_path / "elsewhere.md")
    assert search_index(corpus, "refunds", 5, directory=tmp_path / "idx")[1].refused == ["out\\x1b[2J.md"]
