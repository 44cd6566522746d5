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
from skipclip.data.sources.base import VideoReadError
from skipclip.data.store.fields import check_manifest
from skipclip.data.store.frame_cache import FrameCache
from skipclip.data.store.shard import (  # noqa: F401
    CODECS,
    MAGIC,
    VERSION,
    check_shard,
    read_header,
    read_shard,
    read_shard_jpegs,
    read_shard_whole,
    write_shard,
)
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.utils.io import atomic_write_text
from skipclip.utils.safe_read import open_regular, read_regular

MANIFEST = "manifest.json"
MAX_MANIFEST = 1 << 30  # bytes of a manifest: about 600 bytes a video, so 1.7 M videos (Kinetics-700 has 650 k)


def shard_name(path: str) -> str:
    """Shard path (relative to the store) of the video at ``path`` (relative to the video root)."""
    return f"videos/{path}.frames"


# ---------------------------------------------------------------------------------- manifest


def load_manifest(root: str | Path) -> dict:
    """The manifest of a store, every field a reader uses checked (:func:`~skipclip.data.store.fields.check_manifest`).

    Raises:
        FileNotFoundError: ``root`` is not a prepared store.
        ValueError: the manifest is damaged, or a field has a wrong type or range (naming it).
    """
    path = Path(root) / MANIFEST
    if not path.exists():
        raise InputNotFoundError(
            f"{root} is not a prepared store (no {MANIFEST}); run `skipclip prepare --videos ... --out {root}`"
        )
    try:
        raw = read_regular(path, "store manifest", MAX_MANIFEST)
    except OSError as exc:
        raise InvalidInputError(f"{path} cannot be read ({exc.strerror or exc})") from None
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(
            f"{path} is damaged ({str(exc)[:200]}); delete it and run `skipclip prepare` "
            "again, finished shards are kept"
        ) from None
    return check_manifest(manifest, path)


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

    def __init__(
        self,
        root: str | Path,
        split: str = "all",
        fold: int = 1,
        val_fraction: float = 0.1,
        seed: int = 0,
        fallback: str = "videos",
    ):
        self.root = Path(root)
        self.manifest = load_manifest(root)
        self.classes: list[str] = list(self.manifest.get("classes", []))
        self.short_side = self.manifest.get("short_side")
        videos = self.manifest["videos"]
        for n, v in enumerate(videos):  # a manifest travels with a store: its paths stay inside it
            v["file"] = contained(self.root, str(v.get("file", "")), f"{self.root / MANIFEST} video {n + 1}")
        chosen = select(manifest_entries(self.manifest), split, fold, val_fraction, seed, fallback, self.classes)
        self.videos = [videos[i] for i in chosen]
        self._checked: set[int] = set()  # videos whose frame count matched their shard's header
        self.frame_cache: FrameCache | None = None  # decoded frames kept in memory (keep_frames)

    def __len__(self) -> int:
        return len(self.videos)

    def num_frames(self, index: int) -> int:
        """The video's frame count from the manifest, compared with its shard's header the first
        time (a count the shard does not hold is never used to plan reads).

        Raises:
            VideoReadError: the shard is unreadable or holds another number of frames (the video
                is then skipped and reported like any unreadable one).
        """
        n = self.videos[index]["frames"]
        if index not in self._checked:
            path = self.root / self.videos[index]["file"]
            try:
                with open_regular(path, "shard") as f:
                    header, _ = read_header(f)
            except OSError as exc:
                raise VideoReadError(
                    str(path), f"shard unreadable ({exc.strerror}); run `skipclip prepare` again"
                ) from None
            except InvalidInputError as exc:  # a FIFO or device in its place: skipped like a damaged shard
                raise VideoReadError(
                    str(path), f"{str(exc).removeprefix(f'{path} ')}; run `skipclip prepare` again"
                ) from None
            if header["frames"] != n:
                raise VideoReadError(
                    str(path),
                    f"{MANIFEST} says {n} frames but the shard holds {header['frames']}; run `skipclip prepare` again",
                )
            self._checked.add(index)
        return n

    def read(self, index: int, frames: Sequence[int]) -> np.ndarray:
        video = self.videos[index]
        path = self.root / video["file"]
        cache = self.frame_cache
        if cache is None:
            return read_shard(path, frames)
        if cache.whole_videos:
            cache.keep_video(path, lambda: read_shard_whole(path, video["frames"], video["height"], video["width"]))
        return cache.read(path, frames, read_shard)

    def keep_frames(self, megabytes: int) -> FrameCache | None:
        """Keep up to ``megabytes`` of decoded JPEG frames in memory (:class:`FrameCache`), so a
        run decodes a frame once rather than once per epoch; 0, or a store of raw frames, keeps
        none. Returns the cache."""
        self.frame_cache = FrameCache(megabytes * 2**20) if megabytes and self.jpeg else None
        if self.frame_cache is not None:
            self.frame_cache.whole_videos = self.decoded_bytes() <= self.frame_cache.budget
        return self.frame_cache

    def decoded_bytes(self) -> int:
        """The bytes of this split's frames decoded, from the manifest's (checked) sizes."""
        return sum(int(v["frames"]) * int(v["height"]) * int(v["width"]) * 3 for v in self.videos)

    @property
    def jpeg(self) -> bool:
        """Whether the frames are stored as JPEG (:meth:`read_jpegs` then hands them over undecoded)."""
        return self.manifest.get("codec", "jpeg") == "jpeg"

    def read_jpegs(self, index: int, frames: Sequence[int]):
        """:meth:`read`'s frames still JPEG (:func:`~skipclip.data.store.shard.read_shard_jpegs`)."""
        return read_shard_jpegs(self.root / self.videos[index]["file"], frames)

    def label(self, index: int) -> int:
        return int(self.videos[index]["label"])

    def name(self, index: int) -> str:
        return self.videos[index]["name"]

    def group(self, index: int) -> str:
        return self.videos[index]["group"]
