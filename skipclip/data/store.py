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
import os
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

from .source import VideoReadError
from .index import VideoEntry, select

MAGIC = b"SKIPCLIP"
VERSION = 1
MANIFEST = "manifest.json"
CODECS = ("jpeg", "raw")


def shard_name(path: str) -> str:
    """Shard path (relative to the store) of the video at ``path`` (relative to the video root)."""
    return f"videos/{path}.frames"


def write_shard(dest: Path, frames: np.ndarray, meta: dict, codec: str = "jpeg", quality: int = 90) -> int:
    """Write ``(T, H, W, 3)`` uint8 frames to ``dest`` atomically (a temporary file, then rename).

    Returns:
        the shard's size in bytes.

    Raises:
        ValueError: an unknown codec.
    """
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    if codec == "jpeg":
        import torch
        from torchvision.io import encode_jpeg

        chw = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # T x 3 x H x W
        chunks = [bytes(encode_jpeg(f.contiguous(), quality=quality).numpy()) for f in chw]
    else:
        chunks = [np.ascontiguousarray(f).tobytes() for f in frames]
    t, h, w = frames.shape[:3]
    header = json.dumps({**meta, "frames": int(t), "height": int(h), "width": int(w), "codec": codec}).encode()
    offsets = np.zeros(t + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(c) for c in chunks])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<II", VERSION, len(header)) + header)
        f.write(offsets.tobytes())
        for c in chunks:
            f.write(c)
    os.replace(tmp, dest)
    return dest.stat().st_size


def read_header(f) -> tuple[dict, int]:
    """Header dict and the byte position of the offset table of an open shard.

    Raises:
        VideoReadError: not a shard, or a shard cut short.
    """
    head = f.read(16)
    if len(head) < 16 or head[:8] != MAGIC:
        raise VideoReadError(f.name, "not a skipclip shard (bad magic); delete it and run `skipclip prepare` again")
    version, size = struct.unpack("<II", head[8:])
    if version != VERSION:
        raise VideoReadError(f.name, f"shard format version {version}, this skipclip reads {VERSION}; prepare again")
    try:
        header = json.loads(f.read(size))
    except ValueError as exc:
        raise VideoReadError(f.name, "damaged shard header; delete it and run `skipclip prepare` again") from exc
    return header, 16 + size


def check_shard(path: Path) -> dict | None:
    """The header of a complete shard, or None when it is absent, damaged or cut short (resume)."""
    try:
        with open(path, "rb") as f:
            header, pos = read_header(f)
            f.seek(pos + 8 * header["frames"])
            end = np.frombuffer(f.read(8), dtype="<u8")
        expected = pos + 8 * (header["frames"] + 1) + int(end[0])
        return header if path.stat().st_size == expected else None
    except (OSError, VideoReadError, KeyError, IndexError, ValueError):
        return None


def read_shard(path: Path, frames: Sequence[int]) -> np.ndarray:
    """Frames at the given indices (any order, repeats allowed) of one shard.

    Returns:
        ``(len(frames), H, W, 3)`` uint8.

    Raises:
        VideoReadError: missing or damaged shard, or an index out of range.
    """
    idx = np.asarray(frames, dtype=np.int64)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise VideoReadError(str(path), f"shard unreadable ({exc.strerror}); run `skipclip prepare` again") from exc
    with f:
        header, pos = read_header(f)
        n, h, w = header["frames"], header["height"], header["width"]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise VideoReadError(str(path), f"frame index {int(idx.max() if idx.max() >= n else idx.min())} out of range [0, {n})")
        f.seek(pos)
        offsets = np.frombuffer(f.read(8 * (n + 1)), dtype="<u8").astype(np.int64)
        base = pos + 8 * (n + 1)
        unique, inverse = np.unique(idx, return_inverse=True)
        chunks = []
        for i in unique:
            f.seek(base + offsets[i])
            chunks.append(f.read(offsets[i + 1] - offsets[i]))
    out = np.empty((len(unique), h, w, 3), dtype=np.uint8)
    if header["codec"] == "jpeg":
        import torch
        from torchvision.io import decode_jpeg

        for j, c in enumerate(chunks):
            try:
                img = decode_jpeg(torch.frombuffer(bytearray(c), dtype=torch.uint8))  # 3 x H x W
            except RuntimeError as exc:
                raise VideoReadError(str(path), f"damaged frame {int(unique[j])}; run `skipclip prepare` again") from exc
            out[j] = img.permute(1, 2, 0).numpy()
    else:
        for j, c in enumerate(chunks):
            out[j] = np.frombuffer(c, dtype=np.uint8).reshape(h, w, 3)
    return out[inverse.reshape(-1)]


# ---------------------------------------------------------------------------------- manifest


def load_manifest(root: str | Path) -> dict:
    """The manifest of a store.

    Raises:
        FileNotFoundError: ``root`` is not a prepared store.
        ValueError: the manifest is damaged.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a prepared store (no {MANIFEST}); run `skipclip prepare --videos ... --out {root}`")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is damaged ({exc}); run `skipclip prepare` again, finished shards are kept") from exc


def save_manifest(root: str | Path, manifest: dict) -> None:
    """Write the manifest atomically: a reader sees the old one or the new one, never half."""
    path = Path(root) / MANIFEST
    tmp = path.with_name(MANIFEST + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)


def manifest_entries(manifest: dict) -> list[VideoEntry]:
    return [
        VideoEntry(v["name"], v["label"], v["group"], {int(k): r for k, r in v.get("folds", {}).items()})
        for v in manifest["videos"]
    ]


class PreparedStore:
    """A :class:`~skipclip.data.source.VideoSource` over a prepared store.

    Args:
        root: the store directory (holds ``manifest.json``).
        split: ``train``, ``val``, ``test``, ``trainval`` or ``all`` (see :func:`skipclip.data.index.select`).
        fold: official split number (1-3) for UCF101 and HMDB51.
        val_fraction: share of the training list held out, by group, as ``val``.
        seed: seed of the validation draw.
        fallback: classes whose groups cannot be held out (see :mod:`skipclip.data.carve`).

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
