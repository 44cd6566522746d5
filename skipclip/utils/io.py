"""Atomic file writes: a kill or a full disk at any moment leaves the old file or the new one,
whole, never half of one. Files are created with the user's umask (readable by the group on a
shared cluster where the umask allows it). Imports nothing of skipclip."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch

TMP_SUFFIX = ".tmp"
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def fsync_dir(folder: str | Path) -> None:
    """fsync a folder, so a rename inside it survives a power cut (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file in ``path``'s folder, fsync, then rename over ``path``:
    a kill at any moment leaves either the old file or the new one, whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp creates 0600 whatever the umask
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(text.encode()))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically (see :func:`atomic_write`)."""

    atomic_write(path, lambda fh: torch.save(obj, fh))


__all__ = ["TMP_SUFFIX", "atomic_torch_save", "atomic_write", "atomic_write_bytes", "atomic_write_text",
           "current_umask", "fsync_dir"]
