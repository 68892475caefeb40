"""A folder of .md/.txt files indexed in SQLite FTS5 and searched by BM25.

The index lives in a cache file beside the session store (`<store dir>/index/<folder name>-<hash>.sqlite`, or
a directory the caller names), created 0600 (it holds the documents' text, as the database holds prompts). Each
file's mtime, size and SHA-256 are recorded; a search first brings the index up to date: a file whose mtime or
size changed is hashed, and re-chunked only if its content changed; deleted files leave the index. Long files
are chunked by headings, then paragraphs, within a token bound, in time linear in the file's length.

What is indexed, and what is not:
- only regular files under the folder; a symlink is followed only when it resolves inside the folder (a link to
  `/etc/shadow` is refused and named, and so is a linked directory that leads outside; links to directories
  inside the folder are not followed, their files are indexed under their real path);
- files larger than `MAX_FILE_BYTES` (10 MiB: about 2.5 million tokens, far more than any document a model should
  be handed piecemeal) are skipped and named; so are files that cannot be read;
- a file deleted while the index is being brought up to date is simply left out.

One process (and one thread) at a time brings a cache file up to date: an in-process lock per cache file, then an
exclusive `flock` on `<cache>.lock` across processes. The others wait (they report `waiting`, with the holder's
progress, which the holder writes into the lock file) and then find the index already current, so a corpus is
indexed once however many runs start together. Each file's chunks are committed on their own, so an interrupted
indexing keeps what it finished. A damaged cache file is deleted and rebuilt (the result says so).

All of this runs in a worker thread: `progress` (a callback) hears how far it got, and `stop` (an Event) makes it
give up promptly (`IndexingStopped`) between files and inside long ones.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from workbench.tokens import count_text

try:  # POSIX; elsewhere only the in-process lock applies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SUFFIXES = (".md", ".markdown", ".txt")
MAX_FILE_BYTES = 10 * 1024 * 1024  # larger files are skipped (and named): see the module docstring
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_TERM = re.compile(r"[^\W_]+", re.UNICODE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_POLL_S = 0.05  # how often a waiter looks at the lock and at `stop`
_TICK_CHARS = 64 * 1024  # chunking reports progress (and notices `stop`) about this often

#: progress callback: IndexProgress "waiting" (another run or process holds the index; done/total are its files if
#: known, else 0/0) or "indexing" (done/total files to (re)index, and their bytes)
ProgressFn = Callable[["IndexProgress"], None]


class IndexingStopped(Exception):
    """Indexing gave up because `stop` was set (the run was cancelled)."""


class RetrievalError(Exception):
    """The index cache cannot be used (read-only directory, full disk...): a message naming the file."""


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    title: str
    text: str
    score: float
    source: str

    def as_doc(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "text": self.text, "score": self.score, "source": self.source}


@dataclass(frozen=True, slots=True)
class IndexProgress:
    phase: str  # "waiting" or "indexing"
    done: int = 0  # files finished
    total: int = 0  # files to do
    bytes_done: int = 0
    bytes_total: int = 0
    by_pid: int | None = None  # waiting: the process holding the index (ours or another)


@dataclass(slots=True)
class Refreshed:
    """What bringing the index up to date did."""

    path: Path
    changed: int = 0  # files (re)indexed or removed
    refused: list[str] = field(default_factory=list)  # links resolving outside the folder (relative names)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative name, why): too large, unreadable
    rebuilt: str | None = None  # why the cache file was deleted and rebuilt (damaged), if it was
    waited_s: float = 0.0  # time spent waiting for another run or process to finish indexing


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


# -- chunking ---------------------------------------------------------------------------------------------------

Tick = Callable[[int], None]  # called with the characters consumed since the last call; may raise IndexingStopped


def _fits(text: str, bound: int) -> bool:
    # a token is at least one byte: text of at most `bound` bytes cannot exceed `bound` tokens
    return len(text) * 4 <= bound or len(text.encode()) <= bound or count_text(text) <= bound


def _pack(n: int, piece: Callable[[int, int], str], bound: int, tick: Tick | None) -> list[str]:
    """Greedy packing of `n` units into pieces of at most `bound` tokens, in linear time: `piece(i, j)` is the
    text of units i..j-1; the first unit of a piece is always taken (the caller makes every unit fit alone).
    How many units fit is guessed from the tokens per unit so far, then corrected in proportion to the count
    (never past a count known not to fit), so a piece costs two or three token counts of about `bound` tokens
    each, not one per unit. Pieces come out within 3% of the fullest possible."""
    out: list[str] = []
    i = 0
    per_unit = 1.0  # running estimate of tokens per unit
    while i < n:
        left = n - i
        lo, lo_text, lo_tokens = 0, "", 0  # the most units known to fit
        hi = left + 1  # the fewest known not to fit
        k = max(1, min(left, int(bound / per_unit)))
        while True:
            text = piece(i, i + k)
            tokens = count_text(text)
            if tokens <= bound:
                lo, lo_text, lo_tokens = k, text, tokens
                if k == left or tokens >= bound * 0.97:
                    break
            else:
                hi = k
            if hi - lo <= max(1, lo // 32):
                break
            k = min(max(int(k * bound / max(tokens, 1)), lo + 1), hi - 1)
        if lo == 0:  # not even one unit fits (the caller's units should): it goes alone
            lo, lo_text = 1, piece(i, i + 1)
            lo_tokens = count_text(lo_text)
        out.append(lo_text)
        per_unit = max(0.01, lo_tokens / lo)
        i += lo
        if tick is not None:
            tick(len(lo_text))
    return out


def _slicer(text: str) -> Callable[[int, int], str]:
    return lambda i, j: text[i:j]


def _joiner(units: list[str], sep: str) -> Callable[[int, int], str]:
    return lambda i, j: sep.join(units[i:j])


def _split_long(text: str, bound: int, tick: Tick | None = None) -> list[str]:
    """A paragraph over `bound` tokens as pieces within it, cut between words (a word over the bound alone is
    cut between characters)."""
    words: list[str] = []
    for word in text.split():
        if len(word) <= 16 * bound and _fits(word, bound):
            words.append(word)
        else:
            words.extend(_pack(len(word), _slicer(word), bound, tick))
    return _pack(len(words), _joiner(words, " "), bound, tick)


def chunk_text(text: str, default_title: str, bound: int, tick: Tick | None = None) -> list[tuple[str, str]]:
    """(title, text) chunks: one section per heading, paragraphs packed up to `bound` tokens each.

    `tick`, if given, hears the characters consumed as the work goes (and may raise to stop it)."""
    sections: list[tuple[str, list[str]]] = [(default_title, [])]
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            sections.append((m.group(1).strip(), []))
        else:
            sections[-1][1].append(line)
    chunks: list[tuple[str, str]] = []
    pending = 0
    for title, lines in sections:
        units: list[str] = []
        for para in _PARAGRAPH_BREAK.split("\n".join(lines)):
            para = para.strip()
            if not para:
                continue
            if len(para) <= 16 * bound and _fits(para, bound):  # longer ones are packed without counting them whole
                units.append(para)
                pending += len(para)
                if tick is not None and pending >= _TICK_CHARS:
                    tick(pending)
                    pending = 0
            else:
                units.extend(_split_long(para, bound, tick))
        check = None if tick is None else (lambda _chars: tick(0))  # the characters were counted above
        packed = _pack(len(units), _joiner(units, "\n\n"), bound, check)
        chunks.extend((title, body) for body in packed)
    return chunks


# -- the cache file ---------------------------------------------------------------------------------------------


def _is_damaged(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or name.startswith(("SQLITE_CORRUPT_", "SQLITE_NOTADB_")):
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _private_file(path: Path) -> None:
    """Create `path` 0600 (its directory 0700) before SQLite opens it; narrow an existing cache of ours that an
    older workbench left readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RetrievalError(f"the index cache {path} is not a regular file")
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        _private_file(path)
    except OSError as exc:
        raise RetrievalError(f"cannot create the index cache {path}: {exc.strerror or exc}") from None
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer (nor it for them)
        conn.execute("PRAGMA synchronous=NORMAL")  # a cache: durable enough, and one commit per file is cheap
        conn.execute("PRAGMA secure_delete=ON")  # the text of a file that left the index is overwritten
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, sha256 TEXT);
            CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5(doc_id UNINDEXED, title, text, source UNINDEXED);
            """
        )
    except BaseException:
        conn.close()
        raise
    return conn


def _remove_cache(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with suppress(FileNotFoundError):
            p.unlink()


# -- locking ----------------------------------------------------------------------------------------------------

_thread_locks: dict[Path, threading.Lock] = {}
_thread_locks_guard = threading.Lock()
_holders: dict[Path, IndexProgress] = {}  # in-process: the holder's progress, for waiters in this process


def _thread_lock(path: Path) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(path, threading.Lock())


class _Holder:
    """The held lock: lets the indexer publish its progress to waiters (in this process and in others)."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self.fd = fd
        self._last = 0.0

    def publish(self, p: IndexProgress, force: bool = False) -> None:
        _holders[self.path] = p
        now = time.monotonic()
        if self.fd is None or (not force and now - self._last < 0.2):
            return
        self._last = now
        line = f"{os.getpid()} {p.done} {p.total} {p.bytes_done} {p.bytes_total}\n".ljust(80).encode()
        with suppress(OSError):
            os.pwrite(self.fd, line, 0)


def _read_holder(path: Path, fd: int | None) -> IndexProgress:
    own = _holders.get(path)
    if own is not None:
        return IndexProgress("waiting", own.done, own.total, own.bytes_done, own.bytes_total, by_pid=os.getpid())
    if fd is not None:
        with suppress(OSError, ValueError):
            fields_ = os.pread(fd, 80, 0).split()
            if len(fields_) == 5:
                pid, done, total, bdone, btotal = (int(x) for x in fields_)
                return IndexProgress("waiting", done, total, bdone, btotal, by_pid=pid)
    return IndexProgress("waiting")


@contextmanager
def _exclusive(path: Path, stop: threading.Event | None, progress: ProgressFn | None) -> Iterator[_Holder]:
    """Hold the right to write `path`'s index: first in this process, then across processes. Waits (reporting
    `waiting` progress, giving up on `stop`) while someone else holds it."""
    tlock = _thread_lock(path)
    while not tlock.acquire(timeout=_POLL_S):
        if stop is not None and stop.is_set():
            raise IndexingStopped
        if progress is not None:
            progress(_read_holder(path, None))
    try:
        fd: int | None = None
        if fcntl is not None:
            lock_path = Path(f"{path}.lock")
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise RetrievalError(f"cannot create the index lock {lock_path}: {exc.strerror or exc}") from None
        try:
            if fd is not None and fcntl is not None:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        pass
                    if stop is not None and stop.is_set():
                        raise IndexingStopped
                    if progress is not None:
                        progress(_read_holder(path, fd))
                    time.sleep(_POLL_S)
            holder = _Holder(path, fd)
            try:
                yield holder
            finally:
                _holders.pop(path, None)
                if fd is not None:
                    with suppress(OSError):
                        os.ftruncate(fd, 0)
        finally:
            if fd is not None:
                os.close(fd)  # releases the flock
    finally:
        tlock.release()


# -- the folder -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    rel: str  # name in the index: relative to the folder, as found (a link keeps its own name)
    real: str  # the file to read (a link's target, inside the folder)
    size: int
    mtime_ns: int


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _scan(root: str, refused: list[str], skipped: list[tuple[str, str]], refused_raw: set[str]) -> list[_Entry]:
    """The indexable files under `root` (already resolved), sorted by name. Adds to `refused` and `skipped`
    (names made safe to show) and to `refused_raw` (names as in the index)."""
    entries: list[_Entry] = []

    def relative(full: str) -> str:
        return os.path.relpath(full, root).replace(os.sep, "/")

    def unreadable(exc: OSError) -> None:
        skipped.append((_printable(relative(exc.filename or root)) + "/", exc.strerror or str(exc)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=False):
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            if os.path.islink(full) and not _inside(os.path.realpath(full), root):
                refused.append(_printable(relative(full)) + "/")
        for name in filenames:
            if not name.lower().endswith(SUFFIXES):
                continue
            full = os.path.join(dirpath, name)
            rel = relative(full)
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # a name SQLite (and every report) cannot hold as text
                skipped.append((_printable(rel), "its name is not valid UTF-8"))
                continue
            real = full
            try:
                if os.path.islink(full):
                    real = os.path.realpath(full)
                    if not _inside(real, root):
                        refused.append(_printable(rel))
                        refused_raw.add(rel)
                        continue
                st = os.stat(real, follow_symlinks=False)
            except OSError:  # gone already, or a dangling link: nothing to index
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append((_printable(rel), "not a regular file"))
                continue
            entries.append(_Entry(rel, real, st.st_size, st.st_mtime_ns))
    entries.sort(key=lambda e: e.rel)
    return entries


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(name: str) -> str:
    """`name` as safe text for reports: bytes that are not UTF-8 (surrogate escapes) and control characters (a
    file name may hold terminal escape sequences) shown as \\xNN."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _read(entry: _Entry) -> tuple[bytes, os.stat_result] | None:
    """The file's bytes and its stat, read without following a link swapped in since the scan; None when it
    has gone. Raises OSError for an unreadable file, ValueError when it grew past the limit."""
    try:
        fd = os.open(entry.real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise ValueError(_too_large(st.st_size))
        parts: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            block = os.read(fd, 1 << 20)
            if not block:
                break
            parts.append(block)
            size += len(block)
        if size > MAX_FILE_BYTES:
            raise ValueError(_too_large(size))
        return b"".join(parts), st
    finally:
        os.close(fd)


def _too_large(size: int) -> str:
    return f"{size / 1048576:.1f} MiB, over the {MAX_FILE_BYTES // 1048576} MiB limit"


# -- bringing the index up to date ------------------------------------------------------------------------------


def refresh(
    corpus: Path,
    chunk_tokens: int,
    directory: Path | None = None,
    *,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> Refreshed:
    """Bring the index of `corpus` up to date (waiting for anyone else doing so first)."""
    if not corpus.is_dir():
        what = "is not a folder" if corpus.exists() else "does not exist"
        raise FileNotFoundError(f"corpus folder {str(corpus)!r} {what}")
    path = index_path(corpus, chunk_tokens, directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise RetrievalError(f"cannot create the index directory {path.parent}: {exc.strerror or exc}") from None
    t0 = time.monotonic()
    waited: list[float] = []

    def on_wait(p: IndexProgress) -> None:
        if not waited:
            waited.append(time.monotonic())
        if progress is not None:
            progress(p)

    try:
        with _exclusive(path, stop, on_wait) as holder:
            waited_s = time.monotonic() - t0 if waited else 0.0
            try:
                done = _refresh_locked(corpus, path, chunk_tokens, holder, progress, stop)
            except sqlite3.DatabaseError as exc:
                if not _is_damaged(exc):
                    raise
                _remove_cache(path)
                done = _refresh_locked(corpus, path, chunk_tokens, holder, progress, stop)
                done.rebuilt = f"the index cache {path} was damaged ({exc}); it was rebuilt"
            done.waited_s = waited_s
            return done
    except sqlite3.Error as exc:
        raise RetrievalError(f"the index cache {path} cannot be used: {exc}") from None


def _refresh_locked(
    corpus: Path,
    path: Path,
    chunk_tokens: int,
    holder: _Holder,
    progress: ProgressFn | None,
    stop: threading.Event | None,
) -> Refreshed:
    result = Refreshed(path)
    root = os.path.realpath(corpus)
    refused_raw: set[str] = set()
    entries = _scan(root, result.refused, result.skipped, refused_raw)
    conn = _connect(path)
    try:
        known = {row[0]: row[1:] for row in conn.execute("SELECT path, mtime_ns, size, sha256 FROM files")}
        todo: list[_Entry] = []
        keep: set[str] = set()  # files that stay in the index
        for entry in entries:
            if entry.size > MAX_FILE_BYTES:
                result.skipped.append((_printable(entry.rel), _too_large(entry.size)))
                continue
            keep.add(entry.rel)
            old = known.get(entry.rel)
            if old is None or old[0] != entry.mtime_ns or old[1] != entry.size:
                todo.append(entry)
        state = IndexProgress("indexing", 0, len(todo), 0, sum(e.size for e in todo))

        def report(force: bool = False) -> None:
            holder.publish(state, force)
            if progress is not None:
                progress(state)

        def tick(chars: int) -> None:
            nonlocal state
            if stop is not None and stop.is_set():
                raise IndexingStopped
            state = IndexProgress("indexing", state.done, state.total, state.bytes_done + chars, state.bytes_total)
            report()

        if todo:
            report(force=True)
        base = 0
        for entry in todo:
            if stop is not None and stop.is_set():
                raise IndexingStopped
            try:
                got = _read(entry)
            except (OSError, ValueError) as exc:
                why = str(exc) if isinstance(exc, ValueError) else (exc.strerror or str(exc))
                result.skipped.append((_printable(entry.rel), why))
                keep.discard(entry.rel)
                got = None
            if got is None:  # deleted while we were at it (or skipped just now): leaves the index below
                keep.discard(entry.rel)
            else:
                data, st = got
                digest = hashlib.sha256(data).hexdigest()
                old = known.get(entry.rel)
                if old is not None and old[2] == digest:
                    with conn:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute(
                            "UPDATE files SET mtime_ns=?, size=? WHERE path=?", (st.st_mtime_ns, len(data), entry.rel)
                        )
                else:
                    rows = [
                        (f"{entry.rel}#{n}", title, body, entry.rel)
                        for n, (title, body) in enumerate(
                            chunk_text(data.decode("utf-8", "replace"), Path(entry.rel).stem, chunk_tokens, tick)
                        )
                    ]
                    with conn:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute("DELETE FROM chunks WHERE source=?", (entry.rel,))
                        conn.executemany("INSERT INTO chunks (doc_id, title, text, source) VALUES (?, ?, ?, ?)", rows)
                        conn.execute(
                            "INSERT OR REPLACE INTO files (path, mtime_ns, size, sha256) VALUES (?, ?, ?, ?)",
                            (entry.rel, st.st_mtime_ns, len(data), digest),
                        )
                    result.changed += 1
            base += entry.size
            state = IndexProgress("indexing", state.done + 1, state.total, base, state.bytes_total)
            report(force=state.done == state.total)
        gone = set(known) - keep
        if gone:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                for rel in sorted(gone):
                    conn.execute("DELETE FROM chunks WHERE source=?", (rel,))
                    conn.execute("DELETE FROM files WHERE path=?", (rel,))
            result.changed += len(gone)
            if gone & refused_raw:
                # text an older workbench read through a link out of the folder: leave no copy of it behind (FTS5
                # keeps deleted terms in its segments until they merge; the WAL keeps old pages until a checkpoint)
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT INTO chunks(chunks) VALUES ('optimize')")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return result


# -- searching --------------------------------------------------------------------------------------------------


def _query(path: Path, query: str, top_k: int) -> list[Hit]:
    terms = sorted({t.lower() for t in _TERM.findall(query) if len(t) > 1})
    if not terms:
        return []
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    # mode=rw: never create the file here (it is created 0600 by the refresh, or it was removed meanwhile)
    conn = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=rw", timeout=30.0, uri=True)
    try:
        rows = conn.execute(
            "SELECT doc_id, title, text, source, bm25(chunks, 0.0, 2.0, 1.0, 0.0) AS rank FROM chunks"
            " WHERE chunks MATCH ? ORDER BY rank LIMIT ?",
            (match, top_k),
        ).fetchall()
    finally:
        conn.close()
    return [Hit(id=r[0], title=r[1], text=r[2], source=r[3], score=round(-float(r[4]), 4)) for r in rows]


def search_index(
    corpus: Path,
    query: str,
    top_k: int,
    chunk_tokens: int = 400,
    directory: Path | None = None,
    *,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> tuple[list[Hit], Refreshed]:
    """The `top_k` best chunks for `query` by BM25 (score: higher is better), and what bringing the index up to
    date did first. Raises FileNotFoundError (no folder), RetrievalError (unusable cache), IndexingStopped."""
    done = refresh(corpus, chunk_tokens, directory, progress=progress, stop=stop)
    try:
        return _query(done.path, query, top_k), done
    except sqlite3.DatabaseError as exc:
        if not _is_damaged(exc):
            raise RetrievalError(f"the index cache {done.path} cannot be used: {exc}") from None
        # damage the refresh could not see (it reads only the file list): rebuild it, then search again
        with _exclusive(done.path, stop, progress):
            _remove_cache(done.path)
        again = refresh(corpus, chunk_tokens, directory, progress=progress, stop=stop)
        again.rebuilt = f"the index cache {done.path} was damaged ({exc}); it was rebuilt"
        again.refused, again.skipped = again.refused or done.refused, again.skipped or done.skipped
        try:
            return _query(again.path, query, top_k), again
        except sqlite3.Error as exc2:
            raise RetrievalError(f"the index cache {again.path} cannot be used: {exc2}") from None


def search(
    corpus: Path, query: str, top_k: int, chunk_tokens: int = 400, directory: Path | None = None
) -> tuple[list[Hit], int]:
    """The `top_k` best chunks for `query` by BM25 (score: higher is better), and how many files were
    re-indexed first."""
    hits, done = search_index(corpus, query, top_k, chunk_tokens, directory)
    return hits, done.changed
