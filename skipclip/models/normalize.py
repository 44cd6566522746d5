"""The input statistics the encoders expect and the one normalisation of the project: uint8 frames
to standardised floats, on the device, in one pass."""

from __future__ import annotations

import functools

import torch

from skipclip.errors import InvalidInputError

MEAN = (0.43216, 0.394666, 0.37645)  # Kinetics statistics, as torchvision's video models use
STD = (0.22803, 0.22145, 0.216989)
# what torchvision's ImageNet weights expect: used when g starts from inflated ImageNet weights
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STATS = {"kinetics": (MEAN, STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


def input_stats_of(encoder) -> str:
    """The statistics an encoder's inputs are standardised with: its ``input_stats`` attribute,
    ``"kinetics"`` when it has none.

    The attribute travels with the encoder: it is decided once, where the encoder's weights are
    (:func:`skipclip.weights.initialise.initial_encoder`: ``"imagenet"`` for g inflated from a 2D
    ImageNet ResNet), recorded in fine-tuned checkpoints and exported files, and read here by every
    consumer (pretraining, frozen features, linear probe, kNN, fine-tuning, figures, export card).

    Raises:
        ValueError: the encoder names statistics that do not exist.
    """
    stats = getattr(encoder, "input_stats", "kinetics")
    if stats not in STATS:
        raise InvalidInputError(f"input statistics must be one of {', '.join(STATS)}, got {stats!r}")
    return stats


def normalize(
    clip: torch.Tensor,
    channel_dim: int,
    memory_format: torch.memory_format = torch.contiguous_format,
    stats: str = "kinetics",
) -> torch.Tensor:
    """uint8 -> float standardised with the Kinetics mean and std (``stats="imagenet"``: ImageNet's,
    for weights inflated from an ImageNet 2D network), in one pass.

    ``x * (1 / (255 std)) - mean / std``, written straight in ``memory_format``. The channel axis
    may hold ``d`` RGB frames (``3 * d`` channels), the statistics repeating per frame. Under
    autocast the result is written in the autocast dtype (computed in fp32, rounded once): the
    encoders' first convolution would cast it anyway, so this saves a pass and the fp32 copy.

    Raises:
        InvalidInputError: ``clip`` is not uint8 (floats in [0, 1] would be divided by 255 again),
            the channel axis does not hold a multiple of 3 channels, or unknown ``stats``.
    """
    if clip.dtype != torch.uint8:
        raise InvalidInputError(
            f"normalize takes uint8 frames (0-255, as skipclip.read_clip and the data sets give them), got "
            f"{clip.dtype}: it divides by 255 itself. Frames in [0, 1]: pass (x * 255).round().to(torch.uint8); "
            "or use the encoder's own preprocessing, encoder.transforms(frames)"
        )
    if stats not in STATS:
        raise InvalidInputError(f"normalize stats must be one of {', '.join(STATS)}, got {stats!r}")
    channels = clip.shape[channel_dim]
    if channels % 3:
        raise InvalidInputError(
            f"normalize expects RGB frames (a multiple of 3 channels) on axis {channel_dim}, "
            f"got shape {tuple(clip.shape)}"
        )
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
