"""Data set layouts, read as they ship; one module per format. :func:`load_index` detects the
layout of a folder (``layout`` forces one) and returns its :class:`~skipclip.data.catalog.index.DatasetIndex`.

Detection order: UCF101 / HMDB51 split folders, Something-Something v2 ``labels.json``, Kinetics
annotation CSVs, mmaction2-style list files, ``train/`` + ``val/``/``test/`` trees of class
folders, else a plain folder (class subfolders, or flat unlabelled footage).
"""

from __future__ import annotations

from pathlib import Path

from skipclip.config.sections import LAYOUTS
from skipclip.data.catalog.index import DatasetIndex, check_class_count
from skipclip.data.catalog.layouts import (
    folder,
    hmdb51,
    kinetics,
    lists,
    splitdirs,
    ssv2,
    ucf101,
)
from skipclip.data.catalog.layouts.base import Layout, ParsedLayout, ReadOptions
from skipclip.errors import InputNotFoundError, InvalidInputError

UCF_SPLIT_DIR = ucf101.SPLIT_DIR
HMDB_SPLIT_DIR = hmdb51.SPLIT_DIR
EXPECTED = {"ucf101": ucf101.EXPECTED, "hmdb51": hmdb51.EXPECTED, "ssv2": ssv2.EXPECTED}
# name -> Layout; detection tries the layouts with a ``find`` in this order, "folder" last
REGISTRY = {m.LAYOUT.name: m.LAYOUT for m in (ucf101, hmdb51, ssv2, kinetics, lists, splitdirs, folder)}
_FINDERS = {name: layout.find for name, layout in REGISTRY.items() if layout.find is not None}


def resolve(
    videos: str | Path, splits: str | Path | None = None, layout: str | None = None
) -> tuple[str, Path, Path | None]:
    """Find the layout, the video root and the split directory of a data set.

    ``videos`` may be the video root itself (``UCF-101/``) or the folder holding it next to the
    split folder (``ucfTrainTestlist/``, ``testTrainMulti_7030_splits/``).

    Raises:
        FileNotFoundError: ``videos`` or ``splits`` does not exist.
        ValueError: an unknown layout, or a layout whose split files cannot be found.
    """
    videos = Path(videos)
    if not videos.is_dir():
        raise InputNotFoundError(f"video folder {videos} does not exist")
    if layout is not None and layout not in LAYOUTS:
        raise InvalidInputError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if splits is not None:
        splits = Path(splits)
        if not splits.is_dir():
            raise InputNotFoundError(f"split folder {splits} does not exist")
    elif layout in (None, "ucf101", "hmdb51"):
        for where in (videos, videos.parent):
            for name in (UCF_SPLIT_DIR, HMDB_SPLIT_DIR):
                if (where / name).is_dir() and layout in (None, "ucf101" if name == UCF_SPLIT_DIR else "hmdb51"):
                    splits = where / name
                    break
            if splits is not None:
                break
    if layout is None:
        if splits is not None:
            layout = "ucf101" if (splits / "classInd.txt").exists() or splits.name == UCF_SPLIT_DIR else "hmdb51"
        else:
            layout = next((name for name, find in _FINDERS.items() if find(videos)), "folder")
    if layout in ("ucf101", "hmdb51") and splits is None:
        want = UCF_SPLIT_DIR if layout == "ucf101" else HMDB_SPLIT_DIR
        raise InvalidInputError(
            f"layout {layout} needs its split files: put {want}/ next to the videos or pass --splits DIR"
        )
    if layout in _FINDERS and not _FINDERS[layout](videos):
        raise InvalidInputError(
            f"--layout {layout}: {videos} does not hold that layout's files; "
            f"see the layouts table in the README, or drop --layout to detect it"
        )
    if layout == "ucf101" and (videos / "UCF-101").is_dir():
        videos = videos / "UCF-101"
    if layout == "hmdb51":
        for name in ("hmdb51_org", "HMDB51", "hmdb51"):
            if (videos / name).is_dir():
                videos = videos / name
                break
    return layout, videos, splits if layout in ("ucf101", "hmdb51") else None


def load_index(
    videos: str | Path,
    splits: str | Path | None = None,
    layout: str | None = None,
    *,
    test_fraction: float = 0.2,
    group_pattern: str | None = None,
    fallback: str = "videos",
    label_pattern: str | None = None,
) -> DatasetIndex:
    """Parse a data set's split files (or folder structure) into a :class:`DatasetIndex`.

    Args:
        videos, splits, layout: see :func:`resolve`.
        test_fraction: share of each class a folder without split files holds out as test.
        group_pattern: a regular expression whose match (first group) is a video's leakage group;
            replaces the layout's own groups.
        fallback: what to do with classes whose groups cannot be held out (``videos``, ``skip``,
            ``error``; see :mod:`skipclip.data.catalog.carve`).
        label_pattern: a regular expression whose first group, searched in a video's path, is its
            class (the ``folder`` layout only; see :func:`.folder.class_names`).

    Raises:
        SplitError: missing or malformed split files, unknown classes, contradictory lists.
        FileNotFoundError, ValueError: see :func:`resolve`.
    """
    layout, root, split_dir = resolve(videos, splits, layout)
    options = ReadOptions(split_dir, test_fraction, group_pattern, fallback, label_pattern)
    parsed = REGISTRY[layout].read(root, options)
    classes, entries, folds, listed_in, how = parsed.classes, parsed.entries, parsed.folds, parsed.listed_in, parsed.how
    check_class_count(len(classes), f"{root} ({layout} layout)")
    if group_pattern and layout != "folder":
        folder.regroup(entries, group_pattern)
    if label_pattern and layout != "folder":
        raise InvalidInputError(
            f"--label-pattern reads classes from file names in the folder layout; this folder "
            f"holds the {layout} layout, whose classes come from its split files: drop it"
        )
    return DatasetIndex(layout, root, classes, entries, folds, split_dir, listed_in, how)


__all__ = [
    "EXPECTED",
    "HMDB_SPLIT_DIR",
    "REGISTRY",
    "UCF_SPLIT_DIR",
    "Layout",
    "ParsedLayout",
    "ReadOptions",
    "load_index",
    "resolve",
]
