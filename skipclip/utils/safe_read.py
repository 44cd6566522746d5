"""Opening files that others made: only a regular file is read, and its size is checked before a
byte of it is.

A path skipclip reads (a YAML configuration and its ``base:``, a split list, a label map, a store's
manifest and shards, a checkpoint) may be a symbolic link to ``/dev/zero`` (endless bytes), a
FIFO (``open`` waits for a writer for ever) or a folder. The file is opened with ``O_NONBLOCK``
(so opening a FIFO returns at once), then ``fstat`` on the open descriptor says what it is: the
answer is about the very file that will be read, not about a name that may since point elsewhere.
Anything but a regular file is refused with :class:`NotRegularFileError`, naming the path and what
it is; a regular file larger than the reader's bound with :class:`FileTooLargeError`. Both are
:class:`~skipclip.errors.InvalidInputError` (exit status 2 from the CLI). Imports nothing of
skipclip but its errors.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path
from typing import BinaryIO

from skipclip.errors import InvalidInputError


class NotRegularFileError(InvalidInputError):
    """A path that should be a regular file is a FIFO, a device, a socket or a folder."""


class FileTooLargeError(InvalidInputError):
    """A regular file larger than its reader's bound."""


def kind_of(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words (``"a FIFO"``)."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _refuse(path, mode: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(
            f"{path} is {kind_of(mode)}, not a regular file; a {what} must be a regular "
            "file (replace it, or the link to it, with the real file)"
        )


def open_regular(path: str | Path, what: str = "file", max_bytes: int | None = None) -> BinaryIO:
    """``path`` opened for binary reading, after ``fstat`` on the open descriptor has shown a
    regular file of at most ``max_bytes`` bytes (symbolic links are followed: the file they lead to
    is the one checked).

    Args:
        path: the file.
        what: what the file is meant to be, for messages (``"configuration file"``).
        max_bytes: the largest size accepted; ``None`` for no bound.

    Raises:
        FileNotFoundError, PermissionError (``OSError``): as ``open`` does.
        NotRegularFileError: a FIFO, device, socket or folder.
        FileTooLargeError: larger than ``max_bytes``.
    """
    _refuse(path, os.stat(path).st_mode, what)  # a device is never even opened
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        _refuse(path, st.st_mode, what)  # the file opened, whatever the name leads to now
        if max_bytes is not None and st.st_size > max_bytes:
            raise FileTooLargeError(
                f"{path} is {st.st_size} bytes; a {what} is at most {max_bytes} bytes "
                "(it is not what skipclip expects there, or was damaged)"
            )
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # a regular file: ordinary reads from here on
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_at_most(fh: BinaryIO, limit: int, chunk: int = 1 << 20) -> bytes:
    """Up to ``limit`` bytes of ``fh``, read a chunk at a time: ``fh.read(limit)`` would allocate
    ``limit`` bytes before reading one (a 1 GiB bound on a 2 kB manifest reserved 1 GiB)."""
    parts, total = [], 0
    while total < limit:
        part = fh.read(min(chunk, limit - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def read_regular(path: str | Path, what: str = "file", max_bytes: int | None = None) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes`` bytes (see :func:`open_regular`;
    a file that grows between the check and the read is still cut at ``max_bytes + 1`` and refused)."""
    with open_regular(path, what, max_bytes) as fh:
        data = fh.read() if max_bytes is None else _read_at_most(fh, max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLargeError(
            f"{path} grew past {max_bytes} bytes while it was read; a {what} is at most {max_bytes} bytes"
        )
    return data


def check_regular(path: str | Path, what: str = "file") -> None:
    """Refuse ``path`` unless it opens as a regular file (for readers that reopen it by name, such
    as FFmpeg and safetensors; see :func:`open_regular`)."""
    open_regular(path, what).close()


def is_regular(path: str | Path) -> bool:
    """Whether ``path`` leads to a regular file (``Path.is_file``, which follows links and never
    opens the file, so a FIFO cannot make it wait)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


__all__ = [
    "FileTooLargeError",
    "NotRegularFileError",
    "check_regular",
    "is_regular",
    "kind_of",
    "open_regular",
    "read_regular",
]
