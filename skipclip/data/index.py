"""What every layout becomes: a list of :class:`VideoEntry` (path relative to the video root,
label, group, and the video's role in each fold) plus the class names, and the one way splits
are selected from it. The validation split is carved from a fold's training videos by group
(:func:`group_split`), so a group (UCF101's gNN: same actors, same background) never straddles
train and validation, and the test list is never touched for model selection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .video_io import is_video_file

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



def lines_of(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; tolerates CRLF and a UTF-8 BOM. Bytes that are
    not UTF-8 (a Latin-1 file name) are kept as Python keeps them in file names, so the name in
    the list still finds its file."""
    text = path.read_text(encoding="utf-8-sig", errors="surrogateescape")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]




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
