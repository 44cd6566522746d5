"""Split files of UCF101 and HMDB51, read exactly as they ship, and folders of footage.

Every layout becomes the same thing: a list of :class:`VideoEntry` (path relative to the video
root, label, group, and the video's role in each official fold) plus the class names. The
validation split is carved from a fold's training videos by group (:func:`group_split`), so a
UCF101 group gNN (same actors, same background) never straddles train and validation, and the
test list is never touched for model selection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .video_io import is_video_file

LAYOUTS = ("ucf101", "hmdb51", "folder")
UCF_SPLIT_DIR = "ucfTrainTestlist"
HMDB_SPLIT_DIR = "testTrainMulti_7030_splits"

# official figures per fold: (train, test) videos, and the class count
EXPECTED = {
    "ucf101": {"classes": 101, 1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)},
    "hmdb51": {"classes": 51, 1: (3570, 1530), 2: (3570, 1530), 3: (3570, 1530)},
}


class SplitError(ValueError):
    """A split file is missing or malformed. Names the file (and line) and the fix."""


@dataclass
class VideoEntry:
    """One listed video.

    Attributes:
        path: path relative to the video root, with forward slashes (``Class/v_Class_g08_c01.avi``).
        label: class index, -1 for unlabelled footage.
        group: leakage group (UCF101 ``g08``; HMDB51 the source film; else the file's stem).
        folds: fold number -> ``"train"``, ``"test"`` or ``"unused"``; empty means train in any fold.
    """

    path: str
    label: int
    group: str
    folds: dict[int, str] = field(default_factory=dict)

    def role(self, fold: int) -> str:
        return self.folds.get(fold, "unused") if self.folds else "train"


@dataclass
class DatasetIndex:
    """What a layout's split files say: classes, the listed videos, and where things live."""

    layout: str
    root: Path  # video root; entry paths are relative to it
    classes: list[str]
    entries: list[VideoEntry]
    folds: list[int]
    split_dir: Path | None = None

    def unlisted(self) -> list[str]:
        """Video files under the root that no split file lists."""
        listed = {e.path for e in self.entries}
        return sorted(p for p in list_videos(self.root) if p not in listed)

    def missing(self) -> list[str]:
        """Listed videos whose file is absent."""
        return [e.path for e in self.entries if not (self.root / e.path).is_file()]


def list_videos(root: Path) -> list[str]:
    """Relative paths of all video files under ``root`` (recursive, sorted)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and is_video_file(p))


def ucf_group(path: str) -> str:
    """``v_Class_g08_c01.avi`` -> ``g08``; the file's stem when the name has no group."""
    m = re.search(r"_g(\d+)_c\d+", Path(path).name)
    return f"g{int(m.group(1)):02d}" if m else Path(path).stem


def hmdb_group(path: str, cls: str) -> str:
    """The source film of an HMDB51 clip: the name before ``_<class>_``."""
    stem = Path(path).stem
    head, sep, _ = stem.partition(f"_{cls}_")
    return head if sep and head else re.sub(r"_\d+$", "", stem)


# ---------------------------------------------------------------------------------- detection


def resolve(videos: str | Path, splits: str | Path | None = None, layout: str | None = None) -> tuple[str, Path, Path | None]:
    """Find the layout, the video root and the split directory of a data set.

    ``videos`` may be the video root itself (``UCF-101/``) or the folder holding it next to the
    split folder (``ucfTrainTestlist/``, ``testTrainMulti_7030_splits/``).

    Raises:
        FileNotFoundError: ``videos`` or ``splits`` does not exist.
        ValueError: an unknown layout, or a layout whose split folder cannot be found.
    """
    videos = Path(videos)
    if not videos.is_dir():
        raise FileNotFoundError(f"video folder {videos} does not exist")
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if splits is not None:
        splits = Path(splits)
        if not splits.is_dir():
            raise FileNotFoundError(f"split folder {splits} does not exist")
    else:
        for where in (videos, videos.parent):
            for name in (UCF_SPLIT_DIR, HMDB_SPLIT_DIR):
                if (where / name).is_dir() and layout in (None, "ucf101" if name == UCF_SPLIT_DIR else "hmdb51"):
                    splits = where / name
                    break
            if splits is not None:
                break
    if layout is None:
        if splits is None:
            layout = "folder"
        elif (splits / "classInd.txt").exists() or splits.name == UCF_SPLIT_DIR:
            layout = "ucf101"
        else:
            layout = "hmdb51"
    if layout != "folder" and splits is None:
        want = UCF_SPLIT_DIR if layout == "ucf101" else HMDB_SPLIT_DIR
        raise ValueError(f"layout {layout} needs its split files: put {want}/ next to the videos or pass --splits DIR")
    if layout == "ucf101" and (videos / "UCF-101").is_dir():
        videos = videos / "UCF-101"
    if layout == "hmdb51":
        for name in ("hmdb51_org", "HMDB51", "hmdb51"):
            if (videos / name).is_dir():
                videos = videos / name
                break
    return layout, videos, splits if layout != "folder" else None


def load_index(videos: str | Path, splits: str | Path | None = None, layout: str | None = None) -> DatasetIndex:
    """Parse a data set's split files (or folder structure) into a :class:`DatasetIndex`.

    Raises:
        SplitError: missing or malformed split files, unknown classes, contradictory lists.
        FileNotFoundError, ValueError: see :func:`resolve`.
    """
    layout, root, split_dir = resolve(videos, splits, layout)
    if layout == "ucf101":
        classes, entries, folds = parse_ucf101(split_dir)
    elif layout == "hmdb51":
        classes, entries, folds = parse_hmdb51(split_dir)
    else:
        classes, entries = scan_folder(root)
        folds = [1]
    return DatasetIndex(layout, root, classes, entries, folds, split_dir)


# ---------------------------------------------------------------------------------- UCF101


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; tolerates CRLF and a UTF-8 BOM."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def parse_ucf101(split_dir: str | Path) -> tuple[list[str], list[VideoEntry], list[int]]:
    """Read ``classInd.txt``, ``trainlist0F.txt`` (path, 1-based label) and ``testlist0F.txt`` (path).

    Fold 1 is required; folds 2 and 3 are read when both their lists exist.

    Raises:
        SplitError: naming the file, the line and what is wrong.
    """
    split_dir = Path(split_dir)
    class_file = split_dir / "classInd.txt"
    if not class_file.is_file():
        raise SplitError(f"{class_file} is missing; UCF101's split folder {UCF_SPLIT_DIR}/ ships it, re-copy the folder")
    ids: dict[int, str] = {}
    for n, line in _lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitError(f"{class_file} line {n}: expected '<1-based index> <ClassName>', got {line!r}")
        idx = int(parts[0])
        if idx in ids:
            raise SplitError(f"{class_file} line {n}: class index {idx} appears twice")
        ids[idx] = parts[1]
    if not ids:
        raise SplitError(f"{class_file} lists no classes")
    if sorted(ids) != list(range(1, len(ids) + 1)):
        raise SplitError(f"{class_file}: class indices must run 1..{len(ids)} without gaps, got {sorted(ids)[:5]}...")
    classes = [ids[i] for i in range(1, len(ids) + 1)]
    label_of = {c: i for i, c in enumerate(classes)}

    entries: dict[str, VideoEntry] = {}
    folds = []
    for fold in (1, 2, 3):
        train_file, test_file = split_dir / f"trainlist0{fold}.txt", split_dir / f"testlist0{fold}.txt"
        if not train_file.is_file() and not test_file.is_file() and fold > 1:
            continue
        for f in (train_file, test_file):
            if not f.is_file():
                raise SplitError(f"{f} is missing; UCF101's split folder ships trainlist0{fold}.txt and "
                                 f"testlist0{fold}.txt together, re-copy {UCF_SPLIT_DIR}/")
        folds.append(fold)
        for role, f in (("train", train_file), ("test", test_file)):
            lines = _lines(f)
            if not lines:
                raise SplitError(f"{f} is empty; re-copy {UCF_SPLIT_DIR}/")
            for n, line in lines:
                parts = line.split()
                if role == "train" and len(parts) != 2 or role == "test" and len(parts) not in (1, 2):
                    want = "'<Class>/<video>.avi <1-based label>'" if role == "train" else "'<Class>/<video>.avi'"
                    raise SplitError(f"{f} line {n}: expected {want}, got {line!r}")
                path = parts[0].replace("\\", "/")
                cls = path.split("/")[0] if "/" in path else None
                if cls is None:
                    raise SplitError(f"{f} line {n}: {path!r} has no class folder; expected '<Class>/<video>.avi'")
                if cls not in label_of:
                    raise SplitError(f"{f} line {n}: class {cls!r} of {path} is not in {class_file.name}; "
                                     "the split folder and the videos come from different releases")
                label = label_of[cls]
                if len(parts) == 2:
                    if not parts[1].lstrip("-").isdigit():
                        raise SplitError(f"{f} line {n}: label {parts[1]!r} is not an integer")
                    given = int(parts[1])
                    if not 1 <= given <= len(classes):
                        raise SplitError(f"{f} line {n}: label {given} is outside 1..{len(classes)} "
                                         "(labels are 1-based, as in classInd.txt)")
                    if given - 1 != label:
                        raise SplitError(f"{f} line {n}: label {given} ({classes[given - 1]}) contradicts the "
                                         f"folder {cls} (label {label + 1} in classInd.txt)")
                entry = entries.setdefault(path, VideoEntry(path, label, ucf_group(path)))
                if entry.folds.get(fold, role) != role:
                    raise SplitError(f"{f} line {n}: {path} is in both the train and the test list of fold {fold}")
                entry.folds[fold] = role
    for e in entries.values():
        for fold in folds:
            e.folds.setdefault(fold, "unused")
    return classes, list(entries.values()), folds


# ---------------------------------------------------------------------------------- HMDB51

_HMDB_ROLE = {"1": "train", "2": "test", "0": "unused"}


def parse_hmdb51(split_dir: str | Path) -> tuple[list[str], list[VideoEntry], list[int]]:
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
        raise SplitError(f"{split_dir} holds no '<class>_test_split1.txt' files; point --splits at HMDB51's "
                         f"{HMDB_SPLIT_DIR}/ folder")
    classes = sorted(files)
    folds = sorted(files[classes[0]])
    if 1 not in folds:
        raise SplitError(f"{split_dir / (classes[0] + '_test_split1.txt')} is missing; re-copy {HMDB_SPLIT_DIR}/")
    for cls in classes:
        if sorted(files[cls]) != folds:
            absent = sorted(set(folds) ^ set(files[cls]))
            raise SplitError(f"{split_dir}: class {cls!r} has split files for folds {sorted(files[cls])} but other "
                             f"classes have {folds}; {cls}_test_split{absent[0]}.txt is missing or extra")
    entries: dict[str, VideoEntry] = {}
    for label, cls in enumerate(classes):
        for fold in folds:
            f = files[cls][fold]
            lines = _lines(f)
            if not lines:
                raise SplitError(f"{f} is empty; re-copy {HMDB_SPLIT_DIR}/")
            for n, line in lines:
                parts = line.split()
                if len(parts) != 2 or parts[1] not in _HMDB_ROLE:
                    raise SplitError(f"{f} line {n}: expected '<video>.avi <0|1|2>' (1 train, 2 test, 0 unused), got {line!r}")
                path = f"{cls}/{parts[0]}"
                entry = entries.setdefault(path, VideoEntry(path, label, hmdb_group(parts[0], cls)))
                if fold in entry.folds:
                    raise SplitError(f"{f} line {n}: {parts[0]} is listed twice for fold {fold}")
                entry.folds[fold] = _HMDB_ROLE[parts[1]]
    return classes, list(entries.values()), folds


# ---------------------------------------------------------------------------------- folders


def scan_folder(root: str | Path) -> tuple[list[str], list[VideoEntry]]:
    """Class subfolders (``root/<class>/**/<video>``) or a flat folder of unlabelled footage.

    Videos directly under ``root`` next to class subfolders are kept as unlabelled (-1).

    Raises:
        ValueError: no video file under ``root``.
    """
    root = Path(root)
    paths = list_videos(root)
    if not paths:
        raise ValueError(f"no video files (.avi, .mp4, .mkv, .mov, ...) under {root}")
    classes = sorted({p.split("/")[0] for p in paths if "/" in p})
    label_of = {c: i for i, c in enumerate(classes)}
    entries = [VideoEntry(p, label_of[p.split("/")[0]] if "/" in p else -1, ucf_group(p)) for p in paths]
    return classes, entries


# ---------------------------------------------------------------------------------- selection

SPLITS = ("train", "val", "test", "trainval", "all")


def group_split(entries: list[VideoEntry], indices: list[int], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Split ``indices`` into train and validation so that no group is in both.

    Whole groups are drawn in a seeded random order until the validation part holds at least
    ``val_fraction`` of the videos. At least one group stays in train.

    Raises:
        ValueError: ``val_fraction`` outside [0, 1).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if val_fraction == 0 or not indices:
        return list(indices), []
    groups = sorted({entries[i].group for i in indices})
    order = np.random.default_rng(seed).permutation(len(groups))
    size = {g: 0 for g in groups}
    for i in indices:
        size[entries[i].group] += 1
    val_groups: set[str] = set()
    taken = 0
    for j in order[:-1]:  # keep at least one group for training
        if taken >= val_fraction * len(indices):
            break
        val_groups.add(groups[j])
        taken += size[groups[j]]
    train = [i for i in indices if entries[i].group not in val_groups]
    val = [i for i in indices if entries[i].group in val_groups]
    return train, val


def select(entries: list[VideoEntry], split: str = "train", fold: int = 1, val_fraction: float = 0.1, seed: int = 0) -> list[int]:
    """Indices of the entries in ``split`` of ``fold``.

    ``train`` and ``val`` partition the fold's training list by group; ``trainval`` is the whole
    training list; ``test`` is the fold's test list (use it only for the final report); ``all``
    is every listed video (pretraining on everything, labels unused).

    Raises:
        ValueError: an unknown split name.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split == "all":
        return list(range(len(entries)))
    if split == "test":
        return [i for i, e in enumerate(entries) if e.role(fold) == "test"]
    trainval = [i for i, e in enumerate(entries) if e.role(fold) == "train"]
    if split == "trainval":
        return trainval
    train, val = group_split(entries, trainval, val_fraction, seed)
    return train if split == "train" else val
