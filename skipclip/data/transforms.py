"""Clip augmentations: resize, a random crop and horizontal flip shared by context and targets.

Frames stay uint8 here (cheap to crop, 4x less to copy); conversion to float and normalisation
happen on the device, in :func:`normalize` (the one normalisation of the project).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

MEAN = (0.43216, 0.394666, 0.37645)  # Kinetics statistics, as torchvision's video models use
STD = (0.22803, 0.22145, 0.216989)
# what torchvision's ImageNet weights expect: used when g starts from inflated ImageNet weights
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STATS = {"kinetics": (MEAN, STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


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


def normalize(clip: torch.Tensor, channel_dim: int,
              memory_format: torch.memory_format = torch.contiguous_format, stats: str = "kinetics") -> torch.Tensor:
    """uint8 -> float standardised with the Kinetics mean and std (``stats="imagenet"``: ImageNet's,
    for weights inflated from an ImageNet 2D network), in one pass.

    ``x * (1 / (255 std)) - mean / std``, written straight in ``memory_format``. The channel axis
    may hold ``d`` RGB frames (``3 * d`` channels), the statistics repeating per frame. Under
    autocast the result is written in the autocast dtype (computed in fp32, rounded once): the
    encoders' first convolution would cast it anyway, so this saves a pass and the fp32 copy.

    Raises:
        ValueError: the channel axis does not hold a multiple of 3 channels, or unknown ``stats``.
    """
    if stats not in STATS:
        raise ValueError(f"normalize stats must be one of {', '.join(STATS)}, got {stats!r}")
    channels = clip.shape[channel_dim]
    if channels % 3:
        raise ValueError(f"normalize expects RGB frames (a multiple of 3 channels) on axis {channel_dim}, "
                         f"got shape {tuple(clip.shape)}")
    shift, scale = _affine(channels, clip.dim(), channel_dim % clip.dim(), clip.device, stats)
    kind = clip.device.type
    dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else torch.float32
    out = torch.empty(clip.shape, device=clip.device, dtype=dtype, memory_format=memory_format)
    return torch.addcmul(shift, clip, scale, out=out)  # same shape, float


@functools.lru_cache(maxsize=32)
def _affine(channels: int, ndim: int, channel_dim: int, device: torch.device, stats: str = "kinetics"):
    """``(-mean / std, 1 / (255 std))`` shaped to broadcast; cached, so a GPU step makes no
    host-to-device copy (a pageable copy would wait for the work already queued)."""
    shape = [1] * ndim
    shape[channel_dim] = channels
    mean_rgb, std_rgb = STATS[stats]
    mean = torch.tensor(mean_rgb, dtype=torch.float64).repeat(channels // 3).view(shape)
    std = torch.tensor(std_rgb, dtype=torch.float64).repeat(channels // 3).view(shape)
    return (-mean / std).float().to(device), (1.0 / (255.0 * std)).float().to(device)
