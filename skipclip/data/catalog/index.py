"""What every layout becomes: a list of :class:`VideoEntry` (path relative to the video root,
label, group, and the video's role in each fold) plus the class names, and the one way splits
are selected from it. The validation split is carved from a fold's training videos by group
(:func:`group_split`), so a group (UCF101's gNN: same actors, same background) never straddles
train and validation, and the test list is never touched for model selection.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from skipclip.data.catalog.carve import carve
from skipclip.data.catalog.paths import MAX_NAME, MAX_PATH, is_file, too_long
from skipclip.data.video.pyav import is_video_file
from skipclip.errors import InvalidInputError
from skipclip.utils.safe_read import read_regular

# the most classes a list, a label map, a layout or a store's manifest may name (Kinetics-700 has 700;
# a classifier's head and every per-class table are built from the count)
MAX_CLASSES = 100_000
MAX_LIST = 256 << 20  # bytes of a split list, label map, CSV or JSON annotation file (Kinetics-700's: 30 MB)


class SplitError(InvalidInputError):
    """A split file is missing or malformed. Names the file (and line) and the fix."""


@dataclass
class VideoEntry:
    """One listed video.

    Attributes:
        path: path relative to the video root, with forward slashes (``Class/v_Class_g08_c01.avi``).
        label: class index, -1 for unlabelled footage.
        group: leakage group (UCF101 ``g08``; HMDB51 the source film; else the file's stem).
        folds: fold number -> ``"train"``, ``"val"``, ``"test"`` or ``"unused"``; empty means train in any fold.
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
    listed_in: dict[str, str] = field(default_factory=dict)  # path -> the list file naming it
    split: dict = field(default_factory=dict)  # how a split was made here (folder: fraction, groups)

    def unlisted(self) -> list[str]:
        """Video files under the root that no split file lists."""
        listed = {e.path for e in self.entries}
        return sorted(p for p in list_videos(self.root) if p not in listed)

    def missing(self) -> list[str]:
        """Listed videos whose file is absent."""
        return [e.path for e in self.entries if not is_file(self.root / e.path)]

    def present(self) -> list[VideoEntry]:
        """The listed videos whose file is there (a run carries on with these)."""
        return [e for e in self.entries if is_file(self.root / e.path)]

    def missing_by_list(self) -> dict[str, list[str]]:
        """Listed-but-absent videos grouped by the list (or split) that names them."""
        out: dict[str, list[str]] = {}
        for p in self.missing():
            out.setdefault(self.listed_in.get(p, "the split files"), []).append(p)
        return out


def inside(path: str, where: str) -> str:
    """``path`` from a list, normalised to forward slashes, checked to stay inside its folder.

    Raises:
        SplitError: an absolute path or one that climbs out with ``..`` (naming ``where``).
    """

    clean = posixpath.normpath(path.replace("\\", "/"))
    if too_long(clean):
        raise SplitError(
            f"{where}: {path[:80]!r}... is longer than a file system takes ({MAX_NAME} bytes a name, "
            f"{MAX_PATH} in all); fix the line"
        )
    if clean.startswith("/") or clean == ".." or clean.startswith("../") or (len(clean) > 1 and clean[1] == ":"):
        raise SplitError(
            f"{where}: {path!r} points outside the data set's folder; list paths must be "
            "relative and stay inside it (edit the list, or move the videos under the folder)"
        )
    return clean


def list_videos(root: Path) -> list[str]:
    """Relative paths of all video files under ``root`` (recursive, sorted)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and is_video_file(p))


def read_text(path: Path, what: str) -> str:
    """The text of a list or annotation file: a regular file of at most :data:`MAX_LIST` bytes
    (a FIFO or ``/dev/zero`` in its place is refused, never read); bytes that are not UTF-8 kept
    as Python keeps them in file names.

    Raises:
        SplitError: not a regular file, too large, or unreadable (naming the file and the rule).
    """
    try:
        raw = read_regular(path, what, MAX_LIST)
    except InvalidInputError as exc:
        raise SplitError(str(exc)) from None
    except OSError as exc:
        raise SplitError(f"{path} cannot be read ({exc.strerror or exc})") from None
    return raw.decode("utf-8-sig", errors="surrogateescape")


def check_class_count(count: int, where: str) -> None:
    """Refuse more than :data:`MAX_CLASSES` classes (``where``: the file and key naming them).

    Raises:
        SplitError: naming ``where``, the count and the bound.
    """
    if count > MAX_CLASSES:
        raise SplitError(
            f"{where} names {count} classes; skipclip takes at most {MAX_CLASSES} (Kinetics-700 has "
            "700): the file is not a class list, or was damaged"
        )


def lines_of(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; tolerates CRLF and a UTF-8 BOM. Bytes that are
    not UTF-8 (a Latin-1 file name) are kept as Python keeps them in file names, so the name in
    the list still finds its file."""
    text = read_text(path, "split list or label map")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


# ---------------------------------------------------------------------------------- selection

SPLITS = ("train", "val", "test", "trainval", "all")


def group_split(
    entries: list[VideoEntry],
    indices: list[int],
    val_fraction: float,
    seed: int = 0,
    fallback: str = "videos",
    classes=None,
) -> tuple[list[int], list[int]]:
    """Split ``indices`` into train and validation so that no group is in both and every class is
    in validation: whole groups are drawn per class (see :func:`skipclip.data.catalog.carve.carve`).

    Raises:
        ValueError: ``val_fraction`` outside [0, 1), or ``fallback="error"`` with a class the
            groups cannot cover.
    """
    c = carve(entries, indices, val_fraction, seed, fallback, classes)
    return c.keep, c.held


def split_of(
    entries: list[VideoEntry],
    fold: int = 1,
    val_fraction: float = 0.1,
    seed: int = 0,
    fallback: str = "videos",
    classes=None,
) -> list[str]:
    """The split of every entry in ``fold``: ``train``, ``val``, ``test`` or ``unused``.

    A data set that ships its own validation list (role ``val``) keeps it; otherwise validation
    is carved from the training list by group, per class (:func:`group_split`).

    Raises:
        ValueError: see :func:`group_split`.
    """
    roles = [e.role(fold) for e in entries]
    if "val" not in roles:
        trainval = [i for i, r in enumerate(roles) if r == "train"]
        for i in group_split(entries, trainval, val_fraction, seed, fallback, classes)[1]:
            roles[i] = "val"
    return roles


def select(
    entries: list[VideoEntry],
    split: str = "train",
    fold: int = 1,
    val_fraction: float = 0.1,
    seed: int = 0,
    fallback: str = "videos",
    classes=None,
) -> list[int]:
    """Indices of the entries in ``split`` of ``fold``.

    ``train`` and ``val`` partition the fold's training list by group (or are the shipped
    training and validation lists); ``trainval`` is both; ``test`` is the fold's test list (use it
    only for the final report); ``all`` is every listed video (pretraining on everything, labels
    unused).

    Raises:
        ValueError: an unknown split name; see :func:`group_split`.
    """
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split == "all":
        return list(range(len(entries)))
    if split == "test":
        return [i for i, e in enumerate(entries) if e.role(fold) == "test"]
    if split == "trainval":
        return [i for i, e in enumerate(entries) if e.role(fold) in ("train", "val")]
    roles = split_of(entries, fold, val_fraction, seed, fallback, classes)
    return [i for i, r in enumerate(roles) if r == split]
