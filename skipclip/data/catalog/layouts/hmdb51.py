"""HMDB51 as it ships: ``<class>/<clip>.avi`` and ``testTrainMulti_7030_splits/``
(``<class>_test_split{1,2,3}.txt``: 1 train, 2 test, 0 unused)."""

from __future__ import annotations

import re
from pathlib import Path

from skipclip.data.catalog.index import SplitError, VideoEntry, lines_of
from skipclip.data.catalog.layouts.base import Layout, ParsedLayout, ReadOptions
from skipclip.data.catalog.paths import contained

SPLIT_DIR = "testTrainMulti_7030_splits"
EXPECTED = {"classes": 51, 1: (3570, 1530), 2: (3570, 1530), 3: (3570, 1530)}


def hmdb_group(path: str, cls: str) -> str:
    """The source film of an HMDB51 clip: the name before ``_<class>_``."""
    stem = Path(path).stem
    head, sep, _ = stem.partition(f"_{cls}_")
    return head if sep and head else re.sub(r"_\d+$", "", stem)


_HMDB_ROLE = {"1": "train", "2": "test", "0": "unused"}


def parse(split_dir: str | Path) -> tuple[list[str], list[VideoEntry], list[int]]:
    """Read ``<class>_test_split{1,2,3}.txt`` (``<name>.avi <0|1|2>``; 1 train, 2 test, 0 unused).

    Raises:
        SplitError: naming the file, the line and what is wrong.
    """
    split_dir = Path(split_dir)
    files: dict[str, dict[int, Path]] = {}
    for f in sorted(split_dir.glob("*.txt")):
        m = re.fullmatch(r"(.+)_test_split(\d)\.txt", f.name)
        if m is None:
            continue
        files.setdefault(m.group(1), {})[int(m.group(2))] = f
    if not files:
        raise SplitError(
            f"{split_dir} holds no '<class>_test_split1.txt' files; point --splits at HMDB51's {SPLIT_DIR}/ folder"
        )
    classes = sorted(files)
    folds = sorted(files[classes[0]])
    if 1 not in folds:
        raise SplitError(f"{split_dir / (classes[0] + '_test_split1.txt')} is missing; re-copy {SPLIT_DIR}/")
    for cls in classes:
        if sorted(files[cls]) != folds:
            absent = sorted(set(folds) ^ set(files[cls]))
            raise SplitError(
                f"{split_dir}: class {cls!r} has split files for folds {sorted(files[cls])} but other "
                f"classes have {folds}; {cls}_test_split{absent[0]}.txt is missing or extra"
            )
    entries: dict[str, VideoEntry] = {}
    for label, cls in enumerate(classes):
        for fold in folds:
            f = files[cls][fold]
            lines = lines_of(f)
            if not lines:
                raise SplitError(f"{f} is empty; re-copy {SPLIT_DIR}/")
            for n, line in lines:
                parts = line.split()
                if len(parts) != 2 or parts[1] not in _HMDB_ROLE:
                    raise SplitError(
                        f"{f} line {n}: expected '<video>.avi <0|1|2>' (1 train, 2 test, 0 unused), "
                        f"got a line of {len(parts)} fields (see the file)"
                    )
                path = contained("the video folder", f"{cls}/{parts[0]}", f"{f} line {n}")
                if not path.startswith(f"{cls}/"):
                    raise SplitError(
                        f"{f} line {n}: {parts[0]!r} leaves the class folder {cls}/; fix or delete the line"
                    )
                entry = entries.setdefault(path, VideoEntry(path, label, hmdb_group(parts[0], cls)))
                if fold in entry.folds:
                    raise SplitError(f"{f} line {n}: {parts[0]} is listed twice for fold {fold}")
                entry.folds[fold] = _HMDB_ROLE[parts[1]]
    return classes, list(entries.values()), folds


def _read(root: Path, options: ReadOptions) -> ParsedLayout:
    classes, entries, folds = parse(options.split_dir)
    return ParsedLayout(classes, entries, folds)


LAYOUT = Layout("hmdb51", _read)
