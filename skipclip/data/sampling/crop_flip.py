"""Clip augmentations: resize, a random crop and horizontal flip shared by context and targets.

Frames stay uint8 here (cheap to crop, 4x less to copy); conversion to float and normalisation
happen on the device, in :func:`skipclip.models.normalize.normalize`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from skipclip.errors import InvalidInputError


def resize_short_side(frames: torch.Tensor, short_side: int) -> torch.Tensor:
    """Resize ``(T, 3, H, W)`` uint8 frames so that min(H, W) == short_side (bilinear)."""
    h, w = frames.shape[-2:]
    if min(h, w) == short_side:
        return frames
    scale = short_side / min(h, w)
    size = (max(short_side, round(h * scale)), max(short_side, round(w * scale)))
    out = F.interpolate(frames.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def random_crop_flip(
    frames: torch.Tensor, crop: int, rng: np.random.Generator, flip_prob: float = 0.5, train: bool = True
) -> torch.Tensor:
    """One crop (random when ``train``, else centred) and flip for all ``(T, 3, H, W)`` frames.

    Raises:
        ValueError: the crop is larger than the frames.
    """
    h, w = frames.shape[-2:]
    if crop > h or crop > w:
        raise InvalidInputError(f"crop size {crop} is larger than the frames ({h}x{w}); lower data.crop_size")
    if train:
        y = int(rng.integers(0, h - crop + 1))
        x = int(rng.integers(0, w - crop + 1))
    else:
        y, x = (h - crop) // 2, (w - crop) // 2
    out = frames[..., y : y + crop, x : x + crop]
    if train and rng.random() < flip_prob:
        out = out.flip(-1)
    return out
