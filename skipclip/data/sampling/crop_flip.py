"""Clip augmentations: resize, a random crop and horizontal flip shared by context and targets.

Frames stay uint8 here (cheap to crop, 4x less to copy); conversion to float and normalisation
happen on the device, in :func:`skipclip.models.normalize.normalize`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from skipclip.errors import InvalidInputError


def resized_size(h: int, w: int, short_side: int) -> tuple[int, int]:
    """The ``(H, W)`` of :func:`resize_short_side` for ``h`` x ``w`` frames."""
    if min(h, w) == short_side:
        return h, w
    scale = short_side / min(h, w)
    return max(short_side, round(h * scale)), max(short_side, round(w * scale))


def resize_short_side(frames: torch.Tensor, short_side: int) -> torch.Tensor:
    """Resize ``(T, 3, H, W)`` uint8 frames so that min(H, W) == short_side (bilinear, antialiased).

    On the CPU the frames are resized as uint8 (torch's vectorised uint8 path: about 8x faster than
    through float at a store's 128 px, within one level of it); elsewhere through float, rounded.
    """
    h, w = frames.shape[-2:]
    size = resized_size(h, w, short_side)
    if size == (h, w):
        return frames
    if frames.device.type == "cpu" and frames.dtype == torch.uint8:
        return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)
    out = F.interpolate(frames.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def crop_box(
    h: int, w: int, crop: int, rng: np.random.Generator, flip_prob: float = 0.5, train: bool = True
) -> tuple[int, int, bool]:
    """Where :func:`random_crop_flip` crops ``h`` x ``w`` frames and whether it flips: ``(y, x, flip)``
    (drawn from ``rng`` when ``train``, else centred and unflipped).

    Raises:
        ValueError: the crop is larger than the frames.
    """
    if crop > h or crop > w:
        raise InvalidInputError(f"crop size {crop} is larger than the frames ({h}x{w}); lower data.crop_size")
    if not train:
        return (h - crop) // 2, (w - crop) // 2, False
    y = int(rng.integers(0, h - crop + 1))
    x = int(rng.integers(0, w - crop + 1))
    return y, x, bool(rng.random() < flip_prob)


def apply_box(frames: torch.Tensor, crop: int, box: tuple[int, int, bool]) -> torch.Tensor:
    """``frames[..., y:y+crop, x:x+crop]``, flipped horizontally when the box says so."""
    y, x, flip = box
    out = frames[..., y : y + crop, x : x + crop]
    return out.flip(-1) if flip else out


def random_crop_flip(
    frames: torch.Tensor, crop: int, rng: np.random.Generator, flip_prob: float = 0.5, train: bool = True
) -> torch.Tensor:
    """One crop (random when ``train``, else centred) and flip for all ``(T, 3, H, W)`` frames.

    Raises:
        ValueError: the crop is larger than the frames.
    """
    h, w = frames.shape[-2:]
    return apply_box(frames, crop, crop_box(h, w, crop, rng, flip_prob, train))
