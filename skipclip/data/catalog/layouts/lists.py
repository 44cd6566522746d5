"""mmaction2-style list files: ``<path> <label>`` per line (0-based labels), one list per split
(``*train*.txt``, ``*val*.txt``, ``*test*.txt``), paths relative to the split's folder
(``train/``, ``val/``, ``test/``) or to the root, and an optional label map with one class name
per line (``label_map*.txt``; names may hold spaces).

Where there is no test list, the validation list is the test split (as Kinetics is evaluated)
and validation is carved from the training list. Several lists of one split are folds when their
names carry ``split_N`` / ``splitN``.
"""

from __future__ import annotations

import re
from pathlib import Path

from skipclip.data.catalog.index import MAX_CLASSES, SplitError, VideoEntry, check_class_count, inside, lines_of
from skipclip.data.catalog.layouts.base import Layout, ParsedLayout, ReadOptions
from skipclip.data.catalog.layouts.ucf101 import ucf_group
from skipclip.data.catalog.paths import is_file
from skipclip.data.video.pyav import VIDEO_EXTENSIONS, is_video_file

# labels without a label map: below max(listed videos, FREE_LABELS), and never MAX_CLASSES or more,
# so a short list cannot make the class list (one name per label up to the largest) huge
FREE_LABELS = 1000  # a subset of Kinetics-700 keeps its labels
_LABEL = re.compile(r"-?[0-9]+")  # str.isdigit() also takes "²", which int() refuses
FOLDERS = {"train": ("train", "training"), "val": ("val", "validation", "valid"), "test": ("test", "testing")}


def role_of(name: str) -> str | None:
    """``train``, ``val`` or ``test`` from a list file's name; ``None`` for other files."""
    name = name.lower()
    if "test" in name:
        return "test"
    if "val" in name and "train" not in name:
        return "val"
    return "train" if "train" in name else None


def _looks_like_list(path: Path) -> bool:
    for _, line in lines_of(path)[:1]:
        parts = line.rsplit(None, 1)
        return len(parts) == 2 and _LABEL.fullmatch(parts[1]) is not None and is_video_file(parts[0])
    return False


def find(root: Path) -> tuple[dict[str, list[Path]], Path | None] | None:
    """The list files (by split) and the label map of ``root``; ``None`` when it has no lists."""
    lists: dict[str, list[Path]] = {}
    label_map = None
    for f in sorted(root.glob("*.txt")):
        low = f.name.lower()
        if "label" in low or low.startswith("class"):
            label_map = label_map or f
            continue
        role = role_of(f.name)
        if role is not None and (_looks_like_list(f) or not lines_of(f)):  # an empty list is an error later
            lists.setdefault(role, []).append(f)
    if "train" not in lists or not any(lines_of(f) for f in lists["train"]):
        return None
    return lists, label_map


def _what(parts: list[str]) -> str:
    """What is wrong with a list line split into path and label, without quoting it (a file that
    is not a list may hold anything)."""
    if len(parts) != 2:
        return f"a line of {len(parts)} fields"
    if not _LABEL.fullmatch(parts[1]):
        return "a label that is not a number"
    return "a path without a video extension (" + ", ".join(VIDEO_EXTENSIONS[:4]) + "...)"


def _fold(f: Path, n_lists: int) -> int:
    m = re.search(r"split_?(\d)", f.name.lower())
    if m is None and n_lists > 1:
        raise SplitError(
            f"{f.parent}: several lists of one split ({f.name} and others) without 'split_N' in "
            "their names; keep one per split, or name them ..._split_1.txt, ..._split_2.txt"
        )
    return int(m.group(1)) if m else 1


def read_label_map(path: Path | None) -> list[str] | None:
    """Class names, one per line in label order.

    Raises:
        SplitError: an empty map or a name given twice.
    """
    if path is None:
        return None
    lines = lines_of(path)
    names = [line for _, line in lines]
    if not names:
        raise SplitError(f"{path} is empty; it should hold one class name per line, in label order")
    check_class_count(len(names), f"{path} (label map)")
    seen: set[str] = set()
    for n, name in lines:
        if name in seen:
            raise SplitError(f"{path} line {n}: class {name!r} appears twice")
        seen.add(name)
    return names


def _locate(root: Path, role: str, path: str) -> str:
    """The path of a listed file relative to ``root``: under the split's folder, else the root."""
    folders = [d for d in FOLDERS[role] if (root / d).is_dir()]
    for d in folders:
        if is_file(root / d / path):
            return f"{d}/{path}"
    if is_file(root / path) or not folders:
        return path
    return f"{folders[0]}/{path}"


def parse(root: str | Path, found=None) -> tuple[list[str], list[VideoEntry], list[int], dict[str, str]]:
    """Read the list files of ``root`` into entries.

    Returns:
        classes, entries, folds, and the list file naming each entry.

    Raises:
        SplitError: naming the file and line: a line that is not ``<video path> <label>``, a label
            the label map does not have, a path outside the root, a video listed twice, an empty list.
    """
    root = Path(root)
    found = find(root) if found is None else found
    if found is None:
        raise SplitError(f"{root} holds no list file ('<name>_train_*.txt' with '<video> <label>' lines)")
    lists, label_map = found
    names = read_label_map(label_map)
    roles = {"val": "test" if "test" not in lists else "val"}
    entries: dict[str, VideoEntry] = {}
    where: dict[str, str] = {}
    listed_in: dict[str, str] = {}
    top = -1
    read = {f: lines_of(f) for files in lists.values() for f in files}
    limit = len(names) if names is not None else min(MAX_CLASSES, max(FREE_LABELS, sum(map(len, read.values()))))
    for role, files in lists.items():
        for f in files:
            fold = _fold(f, len(files))
            lines = read[f]
            if not lines:
                raise SplitError(f"{f} is empty: the {role} split has no videos; remove the file or list its videos")
            for n, line in lines:
                parts = line.rsplit(None, 1)
                if len(parts) != 2 or not _LABEL.fullmatch(parts[1]) or not is_video_file(parts[0]):
                    raise SplitError(
                        f"{f} line {n}: expected '<video path> <0-based label>', got {_what(parts)} (see the file)"
                    )
                label = int(parts[1]) if len(parts[1]) < 12 else limit  # ASCII digits only (_LABEL)
                if not 0 <= label < limit:
                    span = (
                        f"0..{limit - 1} of {label_map.name}"
                        if names is not None
                        else f"0..{limit - 1} without a label map, for {sum(map(len, read.values()))} listed videos"
                    )
                    raise SplitError(
                        f"{f} line {n}: unknown label {parts[1][:20]} (labels are {span}); fix the line "
                        "or add a label map (label_map.txt, one class name per line)"
                    )
                path = _locate(root, role, inside(parts[0], f"{f} line {n}"))
                here = f"{f.name} line {n}"
                entry = entries.setdefault(path, VideoEntry(path, label, ucf_group(path)))
                if fold in entry.folds or entry.label != label:
                    raise SplitError(
                        f"{here}: {path} is listed twice (first at {where[path]}); keep one line per video"
                    )
                entry.folds[fold] = roles.get(role, role)
                where.setdefault(path, here)
                listed_in.setdefault(path, f.name)
                top = max(top, label)
    folds = sorted({k for e in entries.values() for k in e.folds})
    for e in entries.values():
        for fold in folds:
            e.folds.setdefault(fold, "unused")
    classes = names if names is not None else [str(i) for i in range(top + 1)]
    return classes, list(entries.values()), folds, listed_in


def _read(root: Path, options: ReadOptions) -> ParsedLayout:
    classes, entries, folds, listed_in = parse(root)
    return ParsedLayout(classes, entries, folds, listed_in)


LAYOUT = Layout("lists", _read, find)
