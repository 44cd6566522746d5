"""The split files a prepared store carries: ``OUT/splits/{train,val,test,classes}.txt``, the
split of fold 1 made visible, written as a set, and never over files skipclip did not write there.

What skipclip wrote is listed, with each file's sha256, in ``OUT/splits/.written-by-skipclip.json``,
which travels with the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from skipclip.data.catalog.index import MAX_LIST
from skipclip.errors import InvalidInputError, OutputExistsError
from skipclip.utils.io import replace_folder
from skipclip.utils.safe_read import read_regular

SPLIT_DIR = "splits"
SPLIT_MARK = ".written-by-skipclip.json"  # in OUT/splits: the files skipclip wrote and their sha256
OWN_SPLITS = ("train.txt", "val.txt", "test.txt", "classes.txt")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_split_folder(out: Path, is_store: bool, force: bool) -> None:
    """Refuse to replace files in ``OUT/splits/`` that skipclip did not write there (or that were
    edited since), unless ``force``: the folder is then replaced as a whole.

    What skipclip wrote is listed, with each file's sha256, in ``OUT/splits/.written-by-skipclip.json``,
    which travels with the folder. A store prepared before that list existed owns its
    ``train/val/test/classes.txt``.

    Raises:
        OutputExistsError: naming the files.
    """
    folder = out / SPLIT_DIR
    if folder.is_symlink() and not force:
        raise OutputExistsError(
            f"{folder} is a symbolic link (to {os.readlink(folder)}); prepare writes the split it used into "
            "that folder and would replace it. Give the store a real splits/ folder, or pass --force to replace "
            "the link (never the folder it points to)"
        )
    if force or not folder.is_dir():
        return
    try:
        mark = json.loads(read_regular(folder / SPLIT_MARK, "list of written files", MAX_LIST))
        ours = mark["files"] if isinstance(mark, dict) and isinstance(mark.get("files"), dict) else {}
    except (OSError, ValueError, RecursionError):  # InvalidInputError (a FIFO, too large) is a ValueError
        ours = None
    theirs = []
    for f in sorted(folder.iterdir(), key=lambda p: p.name):
        if f.name == SPLIT_MARK:
            continue
        if ours is None:
            mine = is_store and f.name in OWN_SPLITS and f.is_file()
        else:
            mine = f.name in ours and _sha256_of(f) == ours[f.name]
        if not mine:
            theirs.append(f.name)
    if theirs:
        raise OutputExistsError(
            f"{folder} holds files skipclip did not write there, or that were edited since: {', '.join(theirs)}; "
            "prepare writes the split it used into that folder and would replace them. Move them elsewhere "
            "(and pass them with --splits), or pass --force to replace the folder as a whole"
        )


def _sha256_of(path: Path) -> str | None:
    """The SHA-256 of a regular file of at most ``MAX_LIST`` bytes; ``None`` for anything else."""
    try:
        return _sha256(read_regular(path, "split file", MAX_LIST))
    except (OSError, InvalidInputError):
        return None


def write_split_files(out: Path, index, keep: set[str], force: bool = False) -> list[str]:
    """``OUT/splits/{train,val,test}.txt`` (``<path> <0-based label>``, mmaction2 style) and
    ``OUT/splits/classes.txt``: the split of fold 1 made visible (for a folder without split
    files: the split skipclip made), for the videos in the store (``keep``). The folder is
    replaced as a set (written beside, then swapped in; a symbolic link there, only with ``force``,
    is replaced as a link). Returns the split files written."""

    rows: dict[str, list[str]] = {}
    for e in index.entries:
        role = e.role(index.folds[0] if index.folds else 1)
        if role in ("train", "val", "test") and e.label >= 0 and e.path in keep:
            rows.setdefault(role, []).append(f"{e.path} {e.label}\n")
    if not rows:
        return []
    files = {
        f"{role}.txt": "".join(rows[role]).encode("utf-8", "surrogateescape")
        for role in ("train", "val", "test")
        if role in rows
    }
    files["classes.txt"] = "".join(f"{c}\n" for c in index.classes).encode("utf-8", "surrogateescape")
    mark = json.dumps({"files": {n: _sha256(b) for n, b in files.items()}}, indent=1).encode()

    def write(folder: Path) -> None:
        for name, data in {**files, SPLIT_MARK: mark}.items():
            (folder / name).write_bytes(data)

    replace_folder(out / SPLIT_DIR, write, replace_link=force)  # a link there: refused before, unless force
    return [f"{SPLIT_DIR}/{role}.txt" for role in ("train", "val", "test") if role in rows]
