"""A folder of footage: class subfolders (``root/<class>/**/<video>``), or flat and unlabelled."""

from __future__ import annotations

from pathlib import Path

from ..index import VideoEntry, list_videos
from .ucf101 import ucf_group


def scan(root: str | Path) -> tuple[list[str], list[VideoEntry]]:
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


