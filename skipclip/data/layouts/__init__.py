"""Data set layouts, read as they ship; one module per format. :func:`load_index` detects the
layout of a folder (``layout`` forces one) and returns its :class:`~skipclip.data.index.DatasetIndex`."""

from __future__ import annotations

from pathlib import Path

from ..index import DatasetIndex
from . import folder, hmdb51, ucf101

LAYOUTS = ("ucf101", "hmdb51", "folder")
UCF_SPLIT_DIR = ucf101.SPLIT_DIR
HMDB_SPLIT_DIR = hmdb51.SPLIT_DIR
EXPECTED = {"ucf101": ucf101.EXPECTED, "hmdb51": hmdb51.EXPECTED}


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
        classes, entries, folds = ucf101.parse(split_dir)
    elif layout == "hmdb51":
        classes, entries, folds = hmdb51.parse(split_dir)
    else:
        classes, entries = folder.scan(root)
        folds = [1]
    return DatasetIndex(layout, root, classes, entries, folds, split_dir)


