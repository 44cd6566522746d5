"""Clip augmentations: resize, a random crop and horizontal flip shared by context and targets.

Frames stay uint8 here (cheap to crop, 4x less to copy); conversion to float and normalisation
happen on the device, in :func:`normalize`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MEAN = (0.43216, 0.394666, 0.37645)  # Kinetics statistics, as torchvision's video models use
STD = (0.22803, 0.22145, 0.216989)


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
        raise ValueError(f"crop size {crop} is larger than the frames ({h}x{w}); lower data.crop_size")
    if train:
        y = int(rng.integers(0, h - crop + 1))
        x = int(rng.integers(0, w - crop + 1))
    else:
        y, x = (h - crop) // 2, (w - crop) // 2
    out = frames[..., y : y + crop, x : x + crop]
    if train and rng.random() < flip_prob:
        out = out.flip(-1)
    return out


def normalize(clip: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """uint8 -> float in [0, 1], then standardised with the Kinetics mean and std."""
    shape = [1] * clip.dim()
    shape[channel_dim] = 3
    mean = torch.tensor(MEAN, device=clip.device).view(shape)
    std = torch.tensor(STD, device=clip.device).view(shape)
    return (clip.float().div_(255.0) - mean) / std
