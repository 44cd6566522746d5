"""Paths read from files (split lists, list files, manifests) stay inside their folder.

A line such as ``A/../../../victim/evil.avi 1`` in a split list that travels with a data set
must not make skipclip read, or write next to, a file outside the data set. The check is
lexical (on the text of the path), so a symlink the user put inside their own data set still
works, while an absolute path, a drive letter or a ``..`` that climbs out is refused.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from skipclip.errors import InvalidInputError

MAX_NAME = 255  # bytes of one path component (every common file system's limit)
MAX_PATH = 4095  # bytes of a whole relative path


class PathEscapeError(InvalidInputError):
    """A path read from a file points outside the folder it must stay in."""


def too_long(path: str) -> bool:
    """Whether ``path`` (``/``-separated) has a component or a total length no file system takes,
    so asking whether it exists would raise ``OSError: File name too long``."""
    raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else bytes(path)
    return len(raw) > MAX_PATH or any(len(part) > MAX_NAME for part in raw.split(b"/"))


def is_file(path: str | Path) -> bool:
    """``Path(path).is_file()``, ``False`` where the name is too long or otherwise unusable."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def contained(root: str | Path, relative: str, where: str) -> str:
    """``relative`` normalised (forward slashes, no ``.`` parts), checked to stay inside ``root``.

    Args:
        root: the folder the path is relative to (named in the message).
        relative: the path as written in the file.
        where: the file and line it came from, e.g. ``"ucfTrainTestlist/trainlist01.txt line 3"``.

    Returns:
        the normalised relative path (``Class/v_x.avi``); ``Path(root) / result`` is inside ``root``.

    Raises:
        PathEscapeError: an empty, absolute or drive path, a NUL byte, or ``..`` climbing out of
            ``root``; the message names ``where``, the path and the fix.
    """
    text = relative.replace("\\", "/")
    if "\x00" in text:
        raise PathEscapeError(f"{where}: path {relative!r} holds a NUL byte; fix or delete the line")
    if not text or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise PathEscapeError(
            f"{where}: path {relative!r} is absolute; paths in this file must be relative to "
            f"{root}; fix or delete the line"
        )
    norm = posixpath.normpath(text)
    if too_long(norm):
        raise PathEscapeError(
            f"{where}: path {relative[:80]!r}... is longer than a file system takes "
            f"({MAX_NAME} bytes a name, {MAX_PATH} in all); fix or delete the line"
        )
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise PathEscapeError(
            f"{where}: path {relative!r} leads outside {root}; skipclip only reads and writes "
            "inside the data set's folder, fix or delete the line (the list may have been "
            "tampered with)"
        )
    return norm


def printable(name: str) -> str:
    """``name`` safe to print on any terminal: bytes of a file name that are not valid UTF-8 (kept
    by Python as lone surrogates) are shown as ``\\xNN``."""
    return (
        name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        if isinstance(name, str)
        else str(name)
    )
