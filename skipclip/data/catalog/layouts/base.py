"""What every layout module provides: a :class:`Layout` (its name, how to recognise it in a
folder, how to read it) whose :meth:`Layout.read` returns a :class:`ParsedLayout`.

A new layout is one module in this folder that ends with ``LAYOUT = Layout(...)``, plus its name
in :data:`skipclip.config.sections.LAYOUTS` and in :data:`skipclip.data.catalog.layouts.REGISTRY`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from skipclip.data.catalog.index import VideoEntry


@dataclass
class ParsedLayout:
    """A data set's listing as its layout states it.

    Attributes:
        classes: class names, in label order.
        entries: every listed video.
        folds: the split folds the layout ships (UCF101 and HMDB51 have 3; others 1).
        listed_in: video path -> the file that listed it (for error messages).
        how: how each class's test videos were carved (folder layout only).
    """

    classes: list[str]
    entries: list[VideoEntry]
    folds: list[int] = field(default_factory=lambda: [1])
    listed_in: dict[str, str] = field(default_factory=dict)
    how: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReadOptions:
    """What reading a layout may depend on besides its folder."""

    split_dir: Path | None = None
    test_fraction: float = 0.2
    group_pattern: str | None = None
    fallback: str = "videos"
    label_pattern: str | None = None


@dataclass(frozen=True)
class Layout:
    """One data set layout.

    Attributes:
        name: the ``--layout`` name.
        read: ``read(root, options) -> ParsedLayout``.
        find: ``find(root)`` is truthy when ``root`` holds this layout's files; ``None`` for
            layouts recognised otherwise (by their split folder, or as the fallback).
    """

    name: str
    read: Callable[[Path, ReadOptions], ParsedLayout]
    find: Callable[[Path], object] | None = None
