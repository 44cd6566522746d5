"""A shard's JPEG frames: each one's size read from its start-of-frame marker without decoding, and
decoded only once that size is the shard header's (a JPEG claiming 20000 x 20000 is refused before
the decoder allocates for it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.io import decode_jpeg

from skipclip.data.sources.base import VideoReadError

# JPEG start-of-frame markers (SOF0-SOF15 but DHT C4, JPG C8, DAC CC), where a JPEG gives its size
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: bytes) -> tuple[int, int, int] | None:
    """``(height, width, components)`` from a JPEG's start-of-frame marker, read without decoding;
    ``None`` when the bytes are not a JPEG whose segments lead to one.

    Walks the segments from the start-of-image marker the way libjpeg does (each marker, then its
    length), so the size found is the size the decoder would allocate for.
    """
    if data[:2] != b"\xff\xd8":
        return None
    i, end = 2, len(data)
    while i + 4 <= end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # another SOI, EOI or the scan before any SOF
            return None
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            return None
        if marker in _SOF:
            if length < 8 or i + 10 > end:
                return None
            return (int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big"), data[i + 9])
        i += 2 + length
    return None


def check_jpeg_sizes(path: Path, chunks: list[bytes], unique: np.ndarray, h: int, w: int) -> None:
    """Each JPEG's own header says ``h`` x ``w`` with 3 channels (read before any decoder allocates).

    Raises:
        VideoReadError: a frame of another size or with no readable size, naming it.
    """
    for j, c in enumerate(chunks):
        size = jpeg_size(c)
        if size != (h, w, 3):
            said = "no readable size" if size is None else f"size {size[1]}x{size[0]} with {size[2]} channels"
            raise VideoReadError(
                str(path),
                f"frame {int(unique[j])} is a JPEG of {said}, the header says {w}x{h} RGB; "
                "run `skipclip prepare` again",
            )


def decode_frames(path: Path, chunks: list[bytes], unique: np.ndarray, h: int, w: int) -> list[np.ndarray]:
    """JPEG frames, each decoded only once its own header says it is ``h`` x ``w`` with 3 channels
    (a JPEG claiming 20000 x 20000 is refused before the decoder allocates for it); all in one call,
    or one at a time when that fails, to name the damaged frame."""
    check_jpeg_sizes(path, chunks, unique, h, w)
    data = [torch.frombuffer(bytearray(c), dtype=torch.uint8) for c in chunks]
    try:
        images = decode_jpeg(data) if data else []  # 3 x H x W each
    except RuntimeError:
        images = [_decode_one(path, c, int(unique[j])) for j, c in enumerate(data)]
    for j, img in enumerate(images):
        if tuple(img.shape) != (3, h, w):
            raise VideoReadError(str(path), f"frame {int(unique[j])} is {tuple(img.shape)}, the header says 3x{h}x{w}")
    return [img.permute(1, 2, 0).numpy() for img in images]


def _decode_one(path: Path, data: torch.Tensor, frame: int) -> torch.Tensor:
    try:
        return decode_jpeg(data)
    except RuntimeError as exc:
        raise VideoReadError(str(path), f"damaged frame {frame}; run `skipclip prepare` again") from exc
