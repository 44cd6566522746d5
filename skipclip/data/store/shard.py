"""One prepared video on disk: a shard. Written frame by frame (bounded memory, whatever the
video's length) and read with every size in its header checked against the file's size before
anything is allocated, so a damaged or crafted shard is an error, never an exhausted memory.

Format::

    b"SKIPCLIP" | u32 version | u32 header bytes | header JSON | u64 offsets[frames + 1] | payload

Writing streams the encoded frames into a temporary payload file next to the shard, then writes
the header and offset table and copies the payload behind them into a second temporary file,
which is fsynced and renamed over the shard: a reader sees a whole shard or none. JPEG frames are
checked against the header before they are decoded (:mod:`.jpeg_frames`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.io import encode_jpeg

from skipclip.data.sources.base import VideoReadError
from skipclip.data.store.jpeg_frames import check_jpeg_sizes, decode_frames
from skipclip.errors import InvalidInputError
from skipclip.utils.io import fsync_dir
from skipclip.utils.safe_read import open_regular

MAGIC = b"SKIPCLIP"
VERSION = 1
CODECS = ("jpeg", "raw")
TMP_MARK = ".tmp"  # shard temporaries: <name>.frames.tmp<pid> and <name>.frames.tmp<pid>p
MAX_HEADER = 1 << 20  # a header is a few hundred bytes of JSON
MAX_SIDE = 1 << 15  # pixels on either side of a stored frame
MAX_PIXELS = 1 << 24  # pixels of a stored frame (50 MB as RGB): a 2160-px short side at 16:9 is 8.3 M
MAX_FRAMES = 10_000_000  # frames of one video: 4.6 days at 25 fps


# JPEG frames with a short side under this keep full colour resolution (4:4:4): at 56 px the usual
# 4:2:0 leaves 28 px of colour, and cpu-real's held-out pretext health fell in every seed
# (docs/benchmarks.md); above it the colour planes are halved as usual
FULL_CHROMA_BELOW = 128


def jpeg_full_chroma(frame: np.ndarray, quality: int) -> bytes:
    """An ``(H, W, 3)`` uint8 frame as a baseline JPEG without chroma subsampling (4:4:4)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, "JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


class ShardWriter:
    """Write one shard frame by frame: ``with ShardWriter(dest, codec) as w: w.add(frame)``, then
    ``w.finish(meta)`` (returns the shard's size in bytes). Leaving the block without ``finish``
    (an error, a time limit) removes the temporaries and leaves any old shard as it was.

    Raises:
        ValueError: an unknown codec.
    """

    def __init__(self, dest: str | Path, codec: str = "jpeg", quality: int = 90):
        if codec not in CODECS:
            raise InvalidInputError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
        self.dest, self.codec, self.quality = Path(dest), codec, quality
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.dest.with_name(f"{self.dest.name}{TMP_MARK}{os.getpid()}")
        self.payload_path = self.tmp.with_name(self.tmp.name + "p")
        self.payload = open(self.payload_path, "wb")
        self.sizes: list[int] = []
        self.shape: tuple[int, int] | None = None

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.payload.close()
        for p in (self.payload_path, self.tmp):
            p.unlink(missing_ok=True)

    def add(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 frame."""
        if self.shape is None:
            self.shape = frame.shape[:2]
        if self.codec == "jpeg" and min(frame.shape[:2]) < FULL_CHROMA_BELOW:
            data = jpeg_full_chroma(frame, self.quality)
        elif self.codec == "jpeg":
            chw = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).contiguous()  # 3 x H x W
            data = bytes(encode_jpeg(chw, quality=self.quality).numpy())
        else:
            data = np.ascontiguousarray(frame).tobytes()
        self.payload.write(data)
        self.sizes.append(len(data))

    def finish(self, meta: dict) -> int:
        """Write the shard (fsynced, renamed into place) and return its size in bytes."""
        self.payload.close()
        t = len(self.sizes)
        h, w = self.shape or (0, 0)
        header = json.dumps({**meta, "frames": t, "height": int(h), "width": int(w), "codec": self.codec}).encode()
        offsets = np.zeros(t + 1, dtype="<u8")
        offsets[1:] = np.cumsum(self.sizes)
        with open(self.tmp, "wb") as f, open(self.payload_path, "rb") as payload:
            f.write(MAGIC + struct.pack("<II", VERSION, len(header)) + header)
            f.write(offsets.tobytes())
            shutil.copyfileobj(payload, f, 1 << 20)
            f.flush()
            os.fsync(f.fileno())
        os.replace(self.tmp, self.dest)
        self.payload_path.unlink(missing_ok=True)
        fsync_dir(self.dest.parent)
        return self.dest.stat().st_size


def write_shard(dest: Path, frames: np.ndarray, meta: dict, codec: str = "jpeg", quality: int = 90) -> int:
    """Write ``(T, H, W, 3)`` uint8 frames to ``dest`` atomically. Returns the size in bytes.

    Raises:
        ValueError: an unknown codec.
    """
    with ShardWriter(dest, codec, quality) as w:
        for frame in frames:
            w.add(frame)
        return w.finish(meta)


def remove_stale(folder: str | Path) -> int:
    """Delete shard temporaries a killed writer left under ``folder``; returns how many."""
    folder = Path(folder)
    stale = [p for p in folder.rglob(f"*.frames{TMP_MARK}*") if p.is_file()] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _bad(f, reason: str) -> VideoReadError:
    return VideoReadError(f.name, f"{reason}; delete it and run `skipclip prepare` again")


def read_header(f) -> tuple[dict, int]:
    """Header dict and the byte position of the offset table of an open shard, every size in it
    checked against the file's size.

    Raises:
        VideoReadError: not a shard, a shard cut short, or sizes that do not fit the file.
    """
    size_on_disk = os.fstat(f.fileno()).st_size
    head = f.read(16)
    if len(head) < 16 or head[:8] != MAGIC:
        raise _bad(f, "not a skipclip shard (bad magic)")
    version, size = struct.unpack("<II", head[8:])
    if version != VERSION:
        raise VideoReadError(f.name, f"shard format version {version}, this skipclip reads {VERSION}; prepare again")
    if size > min(MAX_HEADER, size_on_disk - 16):
        raise _bad(f, f"header size {size} does not fit the {size_on_disk}-byte file")
    try:
        header = json.loads(f.read(size))
    except (ValueError, RecursionError) as exc:
        raise _bad(f, "damaged shard header") from exc
    if not isinstance(header, dict):
        raise _bad(f, "damaged shard header")
    pos = 16 + size
    n, h, w = header.get("frames"), header.get("height"), header.get("width")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, h, w)) or not 0 <= n <= MAX_FRAMES:
        raise _bad(f, "damaged shard header (frames, height, width)")
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE and h * w <= MAX_PIXELS) or header.get("codec") not in CODECS:
        raise _bad(
            f,
            f"damaged shard header (size {w}x{h}, codec {str(header.get('codec'))[:20]!r}; frames "
            f"are at most {MAX_PIXELS} pixels)",
        )
    if pos + 8 * (n + 1) > size_on_disk:
        raise _bad(f, f"header promises {n} frames, more than the {size_on_disk}-byte file can hold")
    if header["codec"] == "raw" and pos + 8 * (n + 1) + n * h * w * 3 > size_on_disk:
        raise _bad(f, f"header promises {n} raw {w}x{h} frames, more than the file holds")
    return header, pos


def _offsets(f, header: dict, pos: int) -> np.ndarray:
    n = header["frames"]
    f.seek(pos)
    offsets = np.frombuffer(f.read(8 * (n + 1)), dtype="<u8").astype(np.int64)
    end = pos + 8 * (n + 1)
    if (
        len(offsets) != n + 1
        or offsets[0] != 0
        or np.any(np.diff(offsets) < 0)
        or end + offsets[-1] != os.fstat(f.fileno()).st_size
    ):
        raise _bad(f, "damaged offset table (the shard is cut short or was altered)")
    return offsets


def check_shard(path: Path) -> dict | None:
    """The header of a complete shard, or None when it is absent, damaged or cut short (resume)."""
    try:
        with open_regular(path, "shard") as f:
            header, pos = read_header(f)
            _offsets(f, header, pos)
        return header
    except (OSError, VideoReadError, InvalidInputError):  # a FIFO or device in its place: decoded again
        return None


def _open_shard(path: Path):
    try:
        return open_regular(path, "shard")
    except OSError as exc:
        raise VideoReadError(str(path), f"shard unreadable ({exc.strerror}); run `skipclip prepare` again") from exc
    except InvalidInputError as exc:  # a FIFO or device in its place
        raise VideoReadError(str(path), f"{str(exc).removeprefix(f'{path} ')}; run `skipclip prepare` again") from None


def _read_chunks(path: Path, frames: Sequence[int]) -> tuple[dict, list[bytes], np.ndarray, np.ndarray]:
    """The header, the stored bytes of each distinct frame asked for, those frames' indices and
    where each asked frame is among them."""
    idx = np.asarray(frames, dtype=np.int64)
    with _open_shard(path) as f:
        header, pos = read_header(f)
        n = header["frames"]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise VideoReadError(
                str(path), f"frame index {int(idx.max() if idx.max() >= n else idx.min())} out of range [0, {n})"
            )
        offsets = _offsets(f, header, pos)
        base = pos + 8 * (n + 1)
        unique, inverse = np.unique(idx, return_inverse=True)
        chunks = []
        for i in unique:
            f.seek(base + offsets[i])
            chunks.append(f.read(offsets[i + 1] - offsets[i]))
    return header, chunks, unique, inverse.reshape(-1)


def read_shard(path: Path, frames: Sequence[int]) -> np.ndarray:
    """Frames at the given indices (any order, repeats allowed) of one shard.

    Returns:
        ``(len(frames), H, W, 3)`` uint8.

    Raises:
        VideoReadError: missing or damaged shard, or an index out of range.
    """
    header, chunks, unique, inverse = _read_chunks(path, frames)
    h, w = header["height"], header["width"]
    if header["codec"] == "jpeg":
        images = decode_frames(path, chunks, unique, h, w)
    else:
        images = []
        for j, c in enumerate(chunks):
            if len(c) != h * w * 3:
                raise VideoReadError(str(path), f"frame {int(unique[j])} holds {len(c)} bytes, not {h}x{w}x3")
            images.append(np.frombuffer(c, dtype=np.uint8).reshape(h, w, 3))
    out = np.stack(images) if images else np.empty((0, h, w, 3), dtype=np.uint8)
    return out[inverse]


def read_shard_whole(path: Path, frames: int, height: int, width: int) -> list[np.ndarray]:
    """Every frame of a JPEG shard decoded, each its own ``(H, W, 3)`` uint8 array, the payload
    read in one pass. The shard's header must say the ``frames`` x ``height`` x ``width`` its
    manifest does (so what is decoded is what the caller budgeted for), and each JPEG's own header
    the shard's size, all checked before anything is decoded.

    Raises:
        VideoReadError: as :func:`read_shard`, another size than the manifest's, or raw frames.
    """
    with _open_shard(path) as f:
        header, pos = read_header(f)
        n, h, w = header["frames"], header["height"], header["width"]
        if (n, h, w) != (frames, height, width) or header["codec"] != "jpeg":
            raise VideoReadError(
                str(path),
                f"the shard holds {n} {header['codec']} frames of {w}x{h}, the manifest says {frames} JPEG "
                f"frames of {width}x{height}; run `skipclip prepare` again",
            )
        offsets = _offsets(f, header, pos)  # the payload follows, its size checked against the file's
        payload = f.read(int(offsets[-1]))
    chunks = [payload[offsets[i] : offsets[i + 1]] for i in range(n)]
    return decode_frames(path, chunks, np.arange(n), h, w)


def read_shard_jpegs(path: Path, frames: Sequence[int]) -> tuple[list[torch.Tensor], np.ndarray, tuple[int, int]]:
    """The frames of :func:`read_shard`, still JPEG, for a decoder elsewhere (the GPU's): each
    distinct frame's bytes (uint8, 1-D), where each asked frame is among them, and ``(H, W)``.
    Every JPEG's own header is checked against the shard's size first, as before a CPU decode.

    Raises:
        VideoReadError: as :func:`read_shard`, or a shard of raw frames (nothing to decode).
    """
    header, chunks, unique, inverse = _read_chunks(path, frames)
    h, w = header["height"], header["width"]
    if header["codec"] != "jpeg":
        raise VideoReadError(str(path), f"a {header['codec']} shard holds no JPEG frames to decode")
    check_jpeg_sizes(path, chunks, unique, h, w)
    return [torch.frombuffer(bytearray(c), dtype=torch.uint8) for c in chunks], inverse, (h, w)
