"""A folder of .md/.txt files indexed in SQLite FTS5 and searched by BM25.

The index lives in a cache file beside the session store (`<store dir>/index/<hash of the folder>.sqlite`, or
a directory the caller names). Each file's mtime, size and SHA-256 are recorded; a search first brings the index
up to date: a file whose mtime or size changed is hashed, and re-chunked only if its content changed; deleted
files leave the index. Long files are chunked by headings, then paragraphs, within a token bound.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from workbench.tokens import count_text

SUFFIXES = (".md", ".markdown", ".txt")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_TERM = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    title: str
    text: str
    score: float
    source: str

    def as_doc(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "text": self.text, "score": self.score, "source": self.source}


def index_path(corpus: Path, chunk_tokens: int, directory: Path | None = None) -> Path:
    """The cache file for `corpus` chunked at `chunk_tokens`."""
    if directory is None:
        db = os.environ.get("WORKBENCH_DB")
        if db:
            directory = Path(db).expanduser().parent / "index"
        else:
            from workbench.locations import default_db_path

            directory = default_db_path().parent / "index"
    key = hashlib.sha256(f"{corpus.resolve()}|{chunk_tokens}".encode()).hexdigest()[:16]
    return directory / f"{corpus.name or 'corpus'}-{key}.sqlite"


def _split_long(text: str, bound: int) -> list[str]:
    words = text.split()
    out: list[str] = []
    cur: list[str] = []
    for word in words:
        cur.append(word)
        if count_text(" ".join(cur)) > bound and len(cur) > 1:
            cur.pop()
            out.append(" ".join(cur))
            cur = [word]
    if cur:
        out.append(" ".join(cur))
    return out


def chunk_text(text: str, default_title: str, bound: int) -> list[tuple[str, str]]:
    """(title, text) chunks: one section per heading, paragraphs packed up to `bound` tokens."""
    sections: list[tuple[str, list[str]]] = [(default_title, [])]
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            sections.append((m.group(1).strip(), []))
        else:
            sections[-1][1].append(line)
    chunks: list[tuple[str, str]] = []
    for title, lines in sections:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
        cur = ""
        for para in paragraphs:
            pieces = [para] if count_text(para) <= bound else _split_long(para, bound)
            for piece in pieces:
                joined = f"{cur}\n\n{piece}" if cur else piece
                if cur and count_text(joined) > bound:
                    chunks.append((title, cur))
                    cur = piece
                else:
                    cur = joined
        if cur:
            chunks.append((title, cur))
    return chunks


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, sha256 TEXT);
        CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5(doc_id UNINDEXED, title, text, source UNINDEXED);
        """
    )
    return conn


def _files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def refresh(corpus: Path, chunk_tokens: int, directory: Path | None = None) -> tuple[Path, int]:
    """Bring the index of `corpus` up to date; returns (index file, files re-indexed)."""
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder {str(corpus)!r} does not exist")
    path = index_path(corpus, chunk_tokens, directory)
    conn = _connect(path)
    changed = 0
    try:
        with conn:
            known = {row[0]: row[1:] for row in conn.execute("SELECT path, mtime_ns, size, sha256 FROM files")}
            seen: set[str] = set()
            for file in _files(corpus):
                rel = file.relative_to(corpus).as_posix()
                seen.add(rel)
                st = file.stat()
                old = known.get(rel)
                if old is not None and old[0] == st.st_mtime_ns and old[1] == st.st_size:
                    continue
                data = file.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                if old is not None and old[2] == digest:
                    conn.execute("UPDATE files SET mtime_ns=?, size=? WHERE path=?", (st.st_mtime_ns, st.st_size, rel))
                    continue
                changed += 1
                conn.execute("DELETE FROM chunks WHERE source=?", (rel,))
                text = data.decode("utf-8", "replace")
                for n, (title, body) in enumerate(chunk_text(text, file.stem, chunk_tokens)):
                    conn.execute(
                        "INSERT INTO chunks (doc_id, title, text, source) VALUES (?, ?, ?, ?)",
                        (f"{rel}#{n}", title, body, rel),
                    )
                conn.execute(
                    "INSERT OR REPLACE INTO files (path, mtime_ns, size, sha256) VALUES (?, ?, ?, ?)",
                    (rel, st.st_mtime_ns, st.st_size, digest),
                )
            for rel in set(known) - seen:
                changed += 1
                conn.execute("DELETE FROM chunks WHERE source=?", (rel,))
                conn.execute("DELETE FROM files WHERE path=?", (rel,))
    finally:
        conn.close()
    return path, changed


def search(
    corpus: Path, query: str, top_k: int, chunk_tokens: int = 400, directory: Path | None = None
) -> tuple[list[Hit], int]:
    """The `top_k` best chunks for `query` by BM25 (score: higher is better), and how many files were
    re-indexed first."""
    path, changed = refresh(corpus, chunk_tokens, directory)
    terms = sorted({t.lower() for t in _TERM.findall(query) if len(t) > 1})
    if not terms:
        return [], changed
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT doc_id, title, text, source, bm25(chunks, 0.0, 2.0, 1.0, 0.0) AS rank FROM chunks"
            " WHERE chunks MATCH ? ORDER BY rank LIMIT ?",
            (match, top_k),
        ).fetchall()
    finally:
        conn.close()
    return [Hit(id=r[0], title=r[1], text=r[2], source=r[3], score=round(-float(r[4]), 4)) for r in rows], changed
