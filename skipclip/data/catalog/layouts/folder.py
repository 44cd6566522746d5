r"""A folder of footage: class subfolders (``root/<class>/**/<video>``), file names that carry the
class (``label_pattern``: KTH's ``person01_boxing_d2_uncomp.avi`` with ``person\d+_([a-z]+)_``),
or flat and unlabelled.

A folder of class subfolders ships no split, so it gets a deterministic, group-aware train/test
split: whole groups drawn per class (:func:`skipclip.data.catalog.carve.carve`, a fixed seed, so the same
folder always gives the same split) until each class has ``test_fraction`` of its videos in
test. Groups are UCF-style ``gNN`` names, else the match of ``group_pattern``, else the video.
``skipclip prepare`` writes the split into the store as list files.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from skipclip.data.catalog.carve import carve
from skipclip.data.catalog.index import VideoEntry, list_videos
from skipclip.data.catalog.layouts.base import Layout, ParsedLayout, ReadOptions
from skipclip.data.catalog.layouts.ucf101 import ucf_group
from skipclip.errors import InvalidInputError
from skipclip.utils.patterns import compile_pattern, search_all

SPLIT_SEED = 0  # the test split never moves with a run's --seed
log = logging.getLogger(__name__)


def group_of(path: str, match: re.Match | None) -> str:
    """The leakage group of ``path``: the first group (or the whole) of ``match`` (the group
    pattern searched in ``path``), else UCF's ``gNN``, else the video itself."""
    if match:
        return match.group(1) if match.groups() and match.group(1) is not None else match.group(0)
    return ucf_group(path) if re.search(r"_g\d+_c\d+", Path(path).name) else path


def regroup(entries: list[VideoEntry], pattern: str | None) -> None:
    """Set the groups of ``entries`` from their paths (see :func:`group_of`), the pattern matched
    under a time bound (:mod:`skipclip.utils.patterns`).

    Raises:
        InvalidInputError: ``pattern`` is not a valid regular expression, repeats a repeat, or
            takes too long.
    """
    paths = [e.path for e in entries]
    if pattern:
        matches = search_all(compile_pattern(pattern, "--group-pattern"), paths, "--group-pattern")
    else:
        matches = [None] * len(paths)
    for e, m in zip(entries, matches):
        e.group = group_of(e.path, m)


def class_names(paths: list[str], label_pattern: str | None) -> list[str | None]:
    """The class of each path: the first group (or the match) of ``label_pattern`` searched in the
    path, or without a pattern its first folder; ``None``: unlabelled.

    Raises:
        ValueError: ``label_pattern`` is not a valid regular expression, or matches no path.
    """
    if not label_pattern:
        return [p.split("/")[0] if "/" in p else None for p in paths]
    pattern = compile_pattern(label_pattern, "--label-pattern")
    names = [
        (m.group(1) if m.groups() else m.group(0)) if m else None for m in search_all(pattern, paths, "--label-pattern")
    ]
    missed = [p for p, n in zip(paths, names) if not n]
    if len(missed) == len(paths):
        raise InvalidInputError(
            f"--label-pattern {label_pattern!r} matches none of the {len(paths)} video paths, "
            f"e.g. {paths[0]!r}; its first group must capture the class, e.g. "
            r"'person\d+_([a-z]+)_' for person01_boxing_d2_uncomp.avi"
        )
    if missed:
        log.warning(
            "--label-pattern %r matches %d of %d videos; the other %d are unlabelled, e.g. %s",
            label_pattern,
            len(paths) - len(missed),
            len(paths),
            len(missed),
            ", ".join(missed[:3]),
        )
    return names


def scan(
    root: str | Path,
    test_fraction: float = 0.2,
    group_pattern: str | None = None,
    fallback: str = "videos",
    label_pattern: str | None = None,
) -> tuple[list[str], list[VideoEntry], dict]:
    """Class subfolders (``root/<class>/**/<video>``), a folder whose file names carry the class
    (``label_pattern``), or a flat folder of unlabelled footage.

    Videos directly under ``root`` next to class subfolders (or that ``label_pattern`` does not
    match) are kept as unlabelled (-1) training videos. Labelled videos are split into train and
    test by group, per class.

    Returns:
        classes, entries, and how the split was made (empty for unlabelled footage).

    Raises:
        ValueError: no video file under ``root``; a bad ``test_fraction``, ``group_pattern`` or
            ``label_pattern``.
    """
    root = Path(root)
    paths = list_videos(root)
    if not paths:
        raise InvalidInputError(f"no video files (.avi, .mp4, .mkv, .mov, ...) under {root}")
    names = class_names(paths, label_pattern)
    classes = sorted({n for n in names if n})
    label_of = {c: i for i, c in enumerate(classes)}
    entries = [VideoEntry(p, label_of[n] if n else -1, "") for p, n in zip(paths, names)]
    regroup(entries, group_pattern)
    if not classes:
        return classes, entries, {}
    labelled = [i for i, e in enumerate(entries) if e.label >= 0]
    held = set(carve(entries, labelled, test_fraction, SPLIT_SEED, fallback, classes, part="test").held)
    for i, e in enumerate(entries):
        e.folds[1] = "test" if i in held else "train"
    split = {
        "made_by": "skipclip (folder without split files)",
        "test_fraction": test_fraction,
        "group_pattern": group_pattern,
        "label_pattern": label_pattern,
        "seed": SPLIT_SEED,
    }
    return classes, entries, split


def _read(root: Path, options: ReadOptions) -> ParsedLayout:
    classes, entries, how = scan(
        root, options.test_fraction, options.group_pattern, options.fallback, options.label_pattern
    )
    return ParsedLayout(classes, entries, how=how)


LAYOUT = Layout("folder", _read)
