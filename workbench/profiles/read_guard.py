"""Reading a user-named input file safely: only a regular file, opened without blocking, never more than a limit.

Shared by the profile loader and the eval dataset loader. A device such as /dev/zero or /dev/urandom would be
read without end (MemoryError), and a FIFO nobody writes to would block the open forever; both are refused
before a byte is read. A file larger than the limit is refused by its size, and one that grows while being read
is cut at the limit and refused too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """The path names a FIFO, a device or another special file. `what` says which, for a message."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class FileTooLarge(OSError):
    """The file holds more than the limit; `size` is what was found (its size, or the bytes read so far)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them.

    Raises NotRegularFile, FileTooLarge, IsADirectoryError, or the OSError of the open or the read."""
    fd = os.open(Path(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or special file")
        if info.st_size > limit:  # refused before reading: a huge file is a mistake, not an input
            raise FileTooLarge(info.st_size)
        data = fh.read(limit + 1)
        if len(data) > limit:  # grew while being read
            raise FileTooLarge(len(data))
    return data
