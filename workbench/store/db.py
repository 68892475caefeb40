"""Opening the session database safely: where it lives, how it is created, and what goes wrong, in words.

The file is `--db`, else `$WORKBENCH_DB`, else `sessions/workbench.db` in a checkout of the project, else
`$XDG_DATA_HOME/workbench/workbench.db` (`~/.local/share/workbench/`): see workbench/locations.py.
It is created with mode 0600 before SQLite ever touches it (prompts and outputs are private), and SQLite gives
its `-wal`/`-shm` companions the database file's own mode; the process umask is narrowed while connecting as a
second guard. Every sqlite3 failure that a user can meet (locked, read-only, damaged, newer version, disk full)
becomes a `StoreError` that names the file and says what to do; nothing here ever writes to a file it refused.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import StoreError

ENV_VAR = "WORKBENCH_DB"
DEFAULT_DB = Path("sessions") / "workbench.db"  # inside a checkout of the project, under its root
DEFAULT_BUSY_TIMEOUT = 5.0  # seconds a writer waits for another process's write lock before giving up
TIMEOUT_ENV_VAR = "WORKBENCH_DB_TIMEOUT"  # overrides DEFAULT_BUSY_TIMEOUT (seconds)

_umask_lock = threading.Lock()


def resolve_db_path(db: str | os.PathLike[str] | None = None) -> Path:
    """The database file to use: the explicit `db`, else `$WORKBENCH_DB`, else the checkout's
    `sessions/workbench.db`, else the platform's data directory (workbench/locations.py)."""
    if db:
        return Path(db)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    from workbench.locations import default_db_path

    return default_db_path()


def default_busy_timeout() -> float:
    """Seconds to wait for another process's write lock: `$WORKBENCH_DB_TIMEOUT`, else 5."""
    raw = os.environ.get(TIMEOUT_ENV_VAR)
    if raw:
        try:
            value = float(raw)
        except ValueError:
            raise StoreError(f"${TIMEOUT_ENV_VAR} must be a number of seconds, not {raw!r}") from None
        if value >= 0:
            return value
        raise StoreError(f"${TIMEOUT_ENV_VAR} must not be negative ({raw})")
    return DEFAULT_BUSY_TIMEOUT


@contextmanager
def private_umask() -> Iterator[None]:
    """Files created inside this block are readable by their owner only (umask is process-wide: keep it short)."""
    with _umask_lock:
        old = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(old)


def _where_to_save_hint() -> str:
    return f"choose a writable location with --db PATH or ${ENV_VAR}"


def ensure_writable_file(path: Path) -> bool:
    """Create `path` (mode 0600, parent directories 0700) unless it exists; check it can be written.

    Returns True when the file was created here. Raises StoreError for a read-only directory or file.
    """
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StoreError(
            f"cannot create the directory {parent} for the session database {path}: {exc.strerror}",
            hint=_where_to_save_hint(),
        ) from None
    created = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        created = True
    except FileExistsError:
        pass
    except PermissionError:
        raise StoreError(
            f"cannot create the session database {path}: the directory {parent} is read-only",
            hint=_where_to_save_hint(),
        ) from None
    except OSError as exc:
        raise StoreError(
            f"cannot create the session database {path}: {exc.strerror}", hint=_where_to_save_hint()
        ) from None
    if path.is_dir():
        raise StoreError(f"the session database path {path} is a directory", hint="give the path of a file with --db")
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(
            f"the session database {path} is read-only (no write permission); nothing was changed",
            hint=f"make it writable (chmod u+w {path}) or {_where_to_save_hint()}",
        )
    # WAL mode keeps two companion files beside the database; SQLite must be able to create them.
    wal = Path(f"{path}-wal")
    if not os.access(parent, os.W_OK | os.X_OK) and not (wal.exists() and Path(f"{path}-shm").exists()):
        raise StoreError(
            f"the directory {parent} of the session database {path} is read-only: SQLite needs to create"
            f" {wal.name} and {path.name}-shm beside it; nothing was changed",
            hint=f"make the directory writable or {_where_to_save_hint()}",
        )
    return created


def connect(
    path: Path, *, readonly: bool = False, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, immutable: bool = False
) -> sqlite3.Connection:
    """A connection in legacy transaction mode (callers use explicit BEGIN IMMEDIATE ... COMMIT).

    The first read happens here, inside the narrowed umask, because that is when SQLite creates `-wal`/`-shm`.
    """
    params = []
    if readonly:
        params.append("mode=ro")
    if immutable:
        params.append("immutable=1")
    uri = "file:" + urllib.parse.quote(str(path.absolute())) + ("?" + "&".join(params) if params else "")
    with private_umask():
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, check_same_thread=False)
        except sqlite3.Error as exc:
            raise store_error(exc, path, "opening") from None
        try:
            conn.execute("PRAGMA recursive_triggers=on")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            conn.close()
            raise store_error(exc, path, "reading") from None
    return conn


def set_wal(conn: sqlite3.Connection, path: Path) -> None:
    """WAL lets readers (the TUI, `sessions list`) work while a writer commits; NORMAL sync is crash-safe in WAL
    (a killed process loses nothing committed; only a power cut may drop the last commits, never corrupt)."""
    try:
        with private_umask():
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        raise store_error(exc, path, "switching to WAL mode") from None
    if str(mode).lower() != "wal":
        raise StoreError(f"the session database {path} could not be switched to WAL mode (it reports {mode!r})")


def store_error(exc: sqlite3.Error, path: Path | str, doing: str, *, busy_timeout: float | None = None) -> StoreError:
    """Translate a sqlite3 error met while `doing` (a gerund: "saving 3 run(s)") into a StoreError that names the
    file and says what to do. Every caller rolls back first, so the file is as it was."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    low = text.lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in low:
        waited = f" (waited {busy_timeout:g}s)" if busy_timeout is not None else ""
        return StoreError(
            f"the session database {path} is locked: another process is writing to it{waited}. Stopped {doing};"
            " nothing already saved was lost",
            hint="close the other workbench instance or wait for it to finish, or use another file with --db",
            title="session database locked",
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in low or "read-only" in low:
        return StoreError(
            f"the session database {path} is read-only. Stopped {doing}; nothing already saved was lost",
            hint=f"make the file and its directory writable, or {_where_to_save_hint()}",
        )
    if name in {"SQLITE_NOTADB", "SQLITE_CORRUPT"} or "not a database" in low or "malformed" in low:
        return StoreError(
            f"the session database {path} is damaged ({text}). Stopped {doing}; the file was not changed",
            hint=f"keep a copy, then try `sqlite3 {path} .recover | sqlite3 recovered.db`; or move the file aside"
            " and workbench will start a new one",
            title="session database damaged",
        )
    if name.startswith("SQLITE_FULL") or "disk is full" in low:
        return StoreError(
            f"the disk holding the session database {path} is full. Stopped {doing}",
            hint="free some space and try again",
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in low:
        return StoreError(
            f"cannot open the session database {path} ({text})",
            hint=f"check the path and its permissions, or {_where_to_save_hint()}",
        )
    return StoreError(f"{doing} failed on the session database {path}: {text}")
