"""UCF101 as it ships: ``UCF-101/<Class>/v_<Class>_gNN_cNN.avi`` and ``ucfTrainTestlist/``
(``classInd.txt``, ``trainlist0F.txt`` with 1-based labels, label-less ``testlist0F.txt``)."""

from __future__ import annotations

import re
from pathlib import Path

from skipclip.data.catalog.index import SplitError, VideoEntry, lines_of
from skipclip.data.catalog.layouts.base import Layout, ParsedLayout, ReadOptions
from skipclip.data.catalog.paths import contained

SPLIT_DIR = "ucfTrainTestlist"
# official figures per fold: (train, test) videos, and the class count
EXPECTED = {"classes": 101, 1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}


def ucf_group(path: str) -> str:
    """``v_Class_g08_c01.avi`` -> ``g08``; the file's stem when the name has no group."""
    m = re.search(r"_g(\d+)_c\d+", Path(path).name)
    return f"g{int(m.group(1)):02d}" if m else Path(path).stem


def parse(split_dir: str | Path) -> tuple[list[str], list[VideoEntry], list[int]]:
    """Read ``classInd.txt``, ``trainlist0F.txt`` (path, 1-based label) and ``testlist0F.txt`` (path).

    Fold 1 is required; folds 2 and 3 are read when both their lists exist.

    Raises:
        SplitError: naming the file, the line and what is wrong.
    """
    split_dir = Path(split_dir)
    classes = read_classes(split_dir / "classInd.txt")
    label_of = {c: i for i, c in enumerate(classes)}
    entries: dict[str, VideoEntry] = {}
    folds = []
    for fold in (1, 2, 3):
        train_file, test_file = split_dir / f"trainlist0{fold}.txt", split_dir / f"testlist0{fold}.txt"
        if not train_file.is_file() and not test_file.is_file() and fold > 1:
            continue
        for f in (train_file, test_file):
            if not f.is_file():
                raise SplitError(
                    f"{f} is missing; UCF101's split folder ships trainlist0{fold}.txt and "
                    f"testlist0{fold}.txt together, re-copy {SPLIT_DIR}/"
                )
        folds.append(fold)
        for role, f in (("train", train_file), ("test", test_file)):
            lines = lines_of(f)
            if not lines:
                raise SplitError(f"{f} is empty; re-copy {SPLIT_DIR}/")
            for n, line in lines:
                path, label = _listed(line, f, n, role, classes, label_of)
                entry = entries.setdefault(path, VideoEntry(path, label, ucf_group(path)))
                if entry.folds.get(fold, role) != role:
                    raise SplitError(f"{f} line {n}: {path} is in both the train and the test list of fold {fold}")
                entry.folds[fold] = role
    for e in entries.values():
        for fold in folds:
            e.folds.setdefault(fold, "unused")
    return classes, list(entries.values()), folds


def read_classes(class_file: Path) -> list[str]:
    """The class names of ``classInd.txt`` in label order (its 1-based indices, without gaps).

    Raises:
        SplitError: a missing file, a malformed line, a repeated or missing index.
    """
    if not class_file.is_file():
        raise SplitError(f"{class_file} is missing; UCF101's split folder {SPLIT_DIR}/ ships it, re-copy the folder")
    ids: dict[int, str] = {}
    for n, line in lines_of(class_file):
        parts = line.split()
        if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit() and len(parts[0]) < 10):
            raise SplitError(
                f"{class_file} line {n}: expected '<1-based index> <ClassName>', "
                f"got a line of {len(parts)} fields (see the file)"
            )
        idx = int(parts[0])
        if idx in ids:
            raise SplitError(f"{class_file} line {n}: class index {idx} appears twice")
        ids[idx] = parts[1]
    if not ids:
        raise SplitError(f"{class_file} lists no classes")
    if sorted(ids) != list(range(1, len(ids) + 1)):
        raise SplitError(f"{class_file}: class indices must run 1..{len(ids)} without gaps, got {sorted(ids)[:5]}...")
    return [ids[i] for i in range(1, len(ids) + 1)]


def _listed(line: str, f: Path, n: int, role: str, classes: list[str], label_of: dict) -> tuple[str, int]:
    """The video path and 0-based label of one list line (its class folder; a train line's label
    must agree with it).

    Raises:
        SplitError: naming the file, the line and what is wrong.
    """
    parts = line.split()
    if role == "train" and len(parts) != 2 or role == "test" and len(parts) not in (1, 2):
        want = "'<Class>/<video>.avi <1-based label>'" if role == "train" else "'<Class>/<video>.avi'"
        raise SplitError(f"{f} line {n}: expected {want}, got a line of {len(line.split())} fields (see the file)")
    path = contained("the video folder", parts[0], f"{f} line {n}")
    cls = path.split("/")[0] if "/" in path else None
    if cls is None:
        raise SplitError(f"{f} line {n}: {path!r} has no class folder; expected '<Class>/<video>.avi'")
    if cls not in label_of:
        raise SplitError(
            f"{f} line {n}: class {cls!r} of {path} is not in classInd.txt; "
            "the split folder and the videos come from different releases"
        )
    label = label_of[cls]
    if len(parts) == 2:
        if not (parts[1].isascii() and parts[1].lstrip("-").isdigit() and len(parts[1]) < 10):
            raise SplitError(f"{f} line {n}: label {parts[1]!r} is not an integer")
        given = int(parts[1])
        if not 1 <= given <= len(classes):
            raise SplitError(
                f"{f} line {n}: label {given} is outside 1..{len(classes)} (labels are 1-based, as in classInd.txt)"
            )
        if given - 1 != label:
            raise SplitError(
                f"{f} line {n}: label {given} ({classes[given - 1]}) contradicts the "
                f"folder {cls} (label {label + 1} in classInd.txt)"
            )
    return path, label


def _read(root: Path, options: ReadOptions) -> ParsedLayout:
    classes, entries, folds = parse(options.split_dir)
    return ParsedLayout(classes, entries, folds)


LAYOUT = Layout("ucf101", _read)
