"""Writing a profile file safely: under a lock, atomically, next to the real file, keeping the previous backup
until the new one is whole.

    with profile_lock(path):               # read-modify-write of one profile, one process at a time
        text = read...; new = edit(text)
        save_text(path, new, backup=True)  # ProfileError (one line, naming the file) when it cannot be written

- The lock is `fcntl.flock` on a lock file beside the real file (`.NAME.lock`, kept: removing it would let two
  processes lock two different files). The whole read-modify-write happens under it, so two `profile set`
  on different keys both land. It is re-entrant within a thread (`ProfileEditor.save` takes it too).
- A symlinked profile is edited through the link: the temp file is made in the real file's folder and
  replaces the real file; the link stays a link.
- The temp file is fsynced, given the old file's mode, then `os.replace`d over the target; the folder is
  fsynced. A crash or a full disk leaves the old file (and no temp file) in place.
- The `.bak` is written the same way (temp + replace): a full disk never truncates the previous backup.
- A read-only file (no write bit, or not writable by this user) is refused, not silently replaced (which
  replacing a file in a writable folder would otherwise do, for root or not).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import ProfileError

#: how long `profile_lock` waits for another process's edit before giving up
LOCK_TIMEOUT_S = 30.0

_held = threading.local()


def real_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to `path` must change: symlinks followed (also a dangling one, to where it points)."""
    return Path(os.path.realpath(path))


def _refused(
    path: str | os.PathLike[str], what: str, hint: str | None = "not saved; the file is unchanged"
) -> ProfileError:
    from workbench.profiles.yaml_doc import one_problem

    return one_problem(str(path), (1, 1), "(file)", what, hint=hint)


def os_error_words(err: OSError) -> str:
    """An OSError from writing, as words a user can act on."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"cannot write: the disk is full ({err.strerror})"
    if err.errno in (errno.EACCES, errno.EPERM):
        where = f" ({err.filename})" if err.filename else ""
        return f"cannot write: permission denied{where}"
    if err.errno == errno.EROFS:
        return "cannot write: the file system is read-only"
    return f"cannot write: {err.strerror or err}"


@contextmanager
def profile_lock(path: str | os.PathLike[str], timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the exclusive edit lock of the profile at `path` (its real file) for the duration."""
    real = real_target(path)
    held: dict[str, int] = getattr(_held, "paths", None) or {}
    _held.paths = held
    key = str(real)
    if key in held:  # this thread holds it already (the command locks, then the editor's save locks again)
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    lock_file = real.with_name(f".{real.name}.lock")
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise _refused(
            path, f"cannot lock it for editing: {os_error_words(exc).removeprefix('cannot write: ')}"
        ) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _refused(
                        path, f"another process has been editing it for {timeout:.0f} s", hint="not saved; try again"
                    ) from None
                time.sleep(0.02)
        held[key] = 1
        try:
            yield
        finally:
            del held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _writable_file(path: str | os.PathLike[str], real: Path) -> os.stat_result | None:
    """The target's stat, or None when it does not exist yet. A read-only file is refused."""
    try:
        info = os.stat(real)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _refused(path, os_error_words(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise _refused(path, "is not a regular file")
    # root may write anything (os.access says yes), so the mode bits are looked at too: a file with no write bit
    # was made read-only on purpose
    if not info.st_mode & 0o222 or not os.access(real, os.W_OK):
        raise _refused(
            path,
            f"is read-only (mode {stat.S_IMODE(info.st_mode):04o})",
            hint=f"not saved; make it writable first (chmod u+w {path}) or save as another file",
        )
    return info


def _replace_with(real: Path, data: bytes, mode: int) -> None:
    """Write `data` to a temp file in `real`'s folder, fsync it, and rename it over `real` (atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(real.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Replace the (real) file at `path` with `text`, atomically; a new file is created (mode 0600 & umask
    as mkstemp makes it, then 0644 & ~umask). Raises OSError. Returns the real path written."""
    real = real_target(path)
    real.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o644 & ~umask
    _replace_with(real, text.encode("utf-8"), mode)
    return real


def save_text(path: str | os.PathLike[str], text: str, *, backup: bool) -> Path | None:
    """Write `text` to the profile at `path` (its real file), keeping the previous version as `.bak` beside
    it when `backup`. Returns the backup's path (None without one). ProfileError, naming the file, when it
    cannot be written; then the file and its previous backup are as they were."""
    real = real_target(path)
    info = _writable_file(path, real)
    bak: Path | None = None
    try:
        if backup and info is not None:
            bak = real.with_name(real.name + ".bak")
            with open(real, "rb") as fh:
                old = fh.read()
            _replace_with(bak, old, stat.S_IMODE(info.st_mode))
    except OSError as exc:
        raise _refused(
            path, os_error_words(exc), hint="not saved; the file and its previous backup are unchanged"
        ) from None
    try:
        write_atomic(real, text)
    except OSError as exc:
        raise _refused(path, os_error_words(exc)) from None
    return bak
