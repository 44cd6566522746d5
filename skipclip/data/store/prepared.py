"""The prepared store: every video decoded once, resized, and kept in one file per video.

Layout of a store directory::

    manifest.json                 per video: file, frames, fps, size, label, group, fold roles;
                                  the classes; the videos that failed and why
    videos/<Class>/<name>.frames  one shard per video

A shard holds the frames of one video as JPEG images (``codec="jpeg"``, the default: about 4 KB
per 171x128 frame, decoded at >10,000 frames/s per core) or raw RGB (``codec="raw"``, 16x bigger,
no decoding at all), behind a small header and a table of byte offsets, so reading any set of
frames seeks straight to them and nothing else is read::

    b"SKIPCLIP" | u32 version | u32 header bytes | header JSON | u64 offsets[frames + 1] | payload
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from skipclip.data.catalog.index import VideoEntry, select
from skipclip.data.catalog.paths import contained
from skipclip.data.store.shard import (  # noqa: F401
    CODECS,
    MAGIC,
    VERSION,
    check_shard,
    read_header,
    read_shard,
    write_shard,
)
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.utils.io import atomic_write_text

MANIFEST = "manifest.json"


def shard_name(path: str) -> str:
    """Shard path (relative to the store) of the video at ``path`` (relative to the video root)."""
    return f"videos/{path}.frames"


# ---------------------------------------------------------------------------------- manifest


def load_manifest(root: str | Path) -> dict:
    """The manifest of a store.

    Raises:
        FileNotFoundError: ``root`` is not a prepared store.
        ValueError: the manifest is damaged.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise InputNotFoundError(f"{root} is not a prepared store (no {MANIFEST}); run `skipclip prepare --videos ... --out {root}`")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise InvalidInputError(f"{path} is damaged ({exc}); run `skipclip prepare` again, finished shards are kept") from exc


def save_manifest(root: str | Path, manifest: dict) -> None:
    """Write the manifest atomically and durably (fsynced): a reader sees the old one or the new
    one, never half. Names are stored as ``json`` writes them: a file name that is not valid
    UTF-8 (kept by Python as lone surrogates) becomes a ``\\udcXX`` escape, which reads back as the
    same name."""

    atomic_write_text(Path(root) / MANIFEST, json.dumps(manifest, indent=1))


def manifest_entries(manifest: dict) -> list[VideoEntry]:
    return [
        VideoEntry(v["name"], v["label"], v["group"], {int(k): r for k, r in v.get("folds", {}).items()})
        for v in manifest["videos"]
    ]


class PreparedStore:
    """A :class:`~skipclip.data.sources.base.VideoSource` over a prepared store.

    Args:
        root: the store directory (holds ``manifest.json``).
        split: ``train``, ``val``, ``test``, ``trainval`` or ``all`` (see :func:`skipclip.data.catalog.index.select`).
        fold: official split number (1-3) for UCF101 and HMDB51.
        val_fraction: share of the training list held out, by group, as ``val``.
        seed: seed of the validation draw.
        fallback: classes whose groups cannot be held out (see :mod:`skipclip.data.catalog.carve`).

    Raises:
        FileNotFoundError: not a store.
        ValueError: damaged manifest or unknown split.
    """

    def __init__(self, root: str | Path, split: str = "all", fold: int = 1, val_fraction: float = 0.1, seed: int = 0,
                 fallback: str = "videos"):
        self.root = Path(root)
        self.manifest = load_manifest(root)
        self.classes: list[str] = list(self.manifest.get("classes", []))
        self.short_side = self.manifest.get("short_side")
        videos = self.manifest["videos"]
        for n, v in enumerate(videos):  # a manifest travels with a store: its paths stay inside it
            v["file"] = contained(self.root, str(v.get("file", "")), f"{self.root / MANIFEST} video {n + 1}")
        chosen = select(manifest_entries(self.manifest), split, fold, val_fraction, seed, fallback, self.classes)
        self.videos = [videos[i] for i in chosen]

    def __len__(self) -> int:
        return len(self.videos)

    def num_frames(self, index: int) -> int:
        return int(self.videos[index]["frames"])

    def read(self, index: int, frames: Sequence[int]) -> np.ndarray:
        return read_shard(self.root / self.videos[index]["file"], frames)

    def label(self, index: int) -> int:
        return int(self.videos[index]["label"])

    def name(self, index: int) -> str:
        return self.videos[index]["name"]

    def group(self, index: int) -> str:
        return self.videos[index]["group"]
