"""``train/`` ``val/`` ``test/`` trees of class folders (``root/<split>/<class>/**/<video>``), the
Kinetics-by-class layout torchvision's video reference reads. Without ``test/``, ``val/`` is the
test split (as Kinetics is evaluated) and validation is carved from ``train/`` by group."""

from __future__ import annotations

from pathlib import Path

from skipclip.data.catalog.index import SplitError, VideoEntry, list_videos
from skipclip.data.catalog.layouts.base import Layout, ParsedLayout, ReadOptions
from skipclip.data.catalog.layouts.lists import FOLDERS
from skipclip.data.catalog.layouts.ucf101 import ucf_group


def find(root: Path) -> dict[str, Path] | None:
    """The split folders of ``root`` when ``train/`` holds class folders of videos and ``val/``
    or ``test/`` exists; ``None`` otherwise."""
    dirs = {}
    for role, names in FOLDERS.items():
        for name in names:
            if (root / name).is_dir():
                dirs[role] = root / name
                break
    if "train" not in dirs or len(dirs) < 2:
        return None
    if not any("/" in p for p in list_videos(dirs["train"])):
        return None  # videos straight under train/: a list layout or a flat folder, not class folders
    return dirs


def parse(root: str | Path, dirs: dict[str, Path] | None = None) -> tuple[list[str], list[VideoEntry]]:
    """Entries of every split folder; the class is the folder under the split folder.

    Raises:
        SplitError: no split folders, a split folder without videos in class folders, or a class
            that has test or validation videos but no training videos.
    """
    root = Path(root)
    dirs = find(root) if dirs is None else dirs
    if dirs is None:
        raise SplitError(f"{root} has no train/ folder of class folders next to val/ or test/")
    found: dict[str, list[str]] = {}
    for role, d in dirs.items():
        paths = [p for p in list_videos(d) if "/" in p]
        if not paths:
            raise SplitError(
                f"{d} holds no videos in class folders: the {role} split is empty; put "
                f"{d.name}/<class>/<video> files there or remove the folder"
            )
        found[role] = paths
    classes = sorted({p.split("/")[0] for p in found["train"]})
    label_of = {c: i for i, c in enumerate(classes)}
    roles = {"val": "test" if "test" not in dirs else "val"}
    entries = []
    for role, paths in found.items():
        unknown = sorted({p.split("/")[0] for p in paths} - set(label_of))
        if unknown:
            raise SplitError(
                f"{dirs[role]}: class folders {', '.join(unknown)} have no videos under "
                f"{dirs['train'].name}/ (unknown labels); add training videos or remove them"
            )
        for p in paths:
            rel = f"{dirs[role].name}/{p}"
            entries.append(VideoEntry(rel, label_of[p.split("/")[0]], ucf_group(p), {1: roles.get(role, role)}))
    return classes, entries


def _read(root: Path, options: ReadOptions) -> ParsedLayout:
    classes, entries = parse(root)
    return ParsedLayout(classes, entries)


LAYOUT = Layout("splitdirs", _read, find)
