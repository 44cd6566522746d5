"""Output paths checked before the work starts: a folder expected where a file is, or a path whose
parent is a file, is an error at once (exit status 2), not a ``FileExistsError`` traceback after
hours of work, when the result is written."""

from __future__ import annotations

from pathlib import Path

from skipclip.errors import InvalidInputError


def _blocking_parent(path: Path) -> Path | None:
    """The nearest existing parent of ``path`` when it is not a folder (so nothing can be made
    under it); ``None`` when the nearest existing parent is a folder."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_out_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder to write into: it is a folder or can be made one.

    Raises:
        InvalidInputError: ``path`` is a file, or one of its parents is.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{flag} {path} is a file; give a folder (it is made if missing)")
    blocked = _blocking_parent(path)
    if blocked is not None:
        raise InvalidInputError(
            f"{flag} {path}: {blocked} is a file, so no folder can be made under it; give another path"
        )
    return path


def check_out_file(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a file to write: not a folder, and its folder is one or can be made one.

    Raises:
        InvalidInputError: ``path`` is a folder, or one of its parents is a file.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{flag} {path} is a folder; give the path of a file to write")
    blocked = _blocking_parent(path)
    if blocked is not None:
        raise InvalidInputError(
            f"{flag} {path}: {blocked} is a file, so the file cannot be written under it; give another path"
        )
    return path


__all__ = ["check_out_file", "check_out_folder"]
