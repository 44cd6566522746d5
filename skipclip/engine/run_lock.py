"""One writer per run folder: an exclusive ``flock`` on ``OUT/.lock``, taken before a run writes
anything and held for the life of the process.

The operating system releases the lock when the process ends, however it ends (a SIGKILL, the
out-of-memory killer, a node lost), so a killed run never leaves a stale lock behind: ``--resume``
takes it again at once. A second run started on the same folder while the first lives stops with
an error naming the first (its pid, host, start time and command, written into the lock file).
``flock`` works across machines on NFS (Linux emulates it with POSIX locks); on a file system
without locks it is refused by the kernel and the run carries on unlocked, with a warning.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import stat
import sys
import time
from pathlib import Path

from skipclip.errors import InvalidInputError, OutputExistsError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, runs are not locked
    fcntl = None

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
_held: dict[Path, int] = {}  # run folders this process holds -> the lock file's descriptor


class RunInUseError(OutputExistsError):
    """Another live process writes into this run folder."""


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "a process that has not yet written its pid"
    return (
        f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: "
        f"{str(info.get('command', ''))[:200]}"
    )


def lock_run_dir(out: str | Path) -> None:
    """Take ``out/.lock`` for this process (creating ``out``); a no-op when it already holds it.

    Raises:
        RunInUseError: another live process holds the lock; the message names it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = out.resolve()
    if key in _held or fcntl is None:
        return
    fd = _open_lock(out / LOCK_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise RunInUseError(
            f"{out} is in use by another skipclip run ({holder}); a run folder has one writer at a "
            "time: wait for that run to end (or stop it, then pass --resume), or choose another "
            "--out"
        ) from None
    except OSError as exc:  # a file system without locks: carry on, unprotected
        log.warning("cannot lock %s (%s); nothing stops a second run from writing into it", out / LOCK_FILE, exc)
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(sys.argv),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)
    _held[key] = fd


def _open_lock(path: Path) -> int:
    """The lock file's descriptor, opened without following a symbolic link (a link planted as
    ``.lock`` would have the lock's record written over the file it names) and only when it is
    a regular file.

    Raises:
        InvalidInputError: ``.lock`` is a link or not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or path.is_symlink():
            raise InvalidInputError(
                f"{path} is a symbolic link, not a run's lock file; skipclip never follows it. "
                "Remove the link (rm), then run again"
            ) from None
        raise InvalidInputError(
            f"{path} cannot be opened as a run's lock file ({exc.strerror}); remove it, then run again"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInputError(f"{path} is not a regular file, not a run's lock file; remove it, then run again")
    return fd


def move_lock(src: str | Path, dst: str | Path) -> None:
    """The lock held on ``src`` becomes ``dst``'s (``src`` was renamed to ``dst``); the lock this
    process held on the folder ``dst`` named before is released."""
    fd = _held.pop(Path(src), None)
    if fd is None:
        fd = _held.pop(Path(src).resolve(), None)
    old = _held.pop(Path(dst).resolve(), None)
    if old is not None:
        os.close(old)
    if fd is not None:
        _held[Path(dst).resolve()] = fd


def release_run_dir(out: str | Path) -> None:
    """Release the lock this process holds on ``out`` (a no-op when it holds none)."""
    fd = _held.pop(Path(out).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def holds_lock(out: str | Path) -> bool:
    """Whether this process holds ``out``'s lock."""
    return Path(out).resolve() in _held


__all__ = ["LOCK_FILE", "RunInUseError", "holds_lock", "lock_run_dir", "move_lock", "release_run_dir"]
