"""The preprocessing that comes with a set of weights (as torchvision's ``Weights.transforms()``):
uint8 RGB frames ``(T, H, W, 3)`` to the standardised clip the encoder expects, exactly as the
evaluation protocols feed it (resize the short side, centre crop, normalise with the encoder's
statistics)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from skipclip.data import resize_short_side
from skipclip.errors import InvalidInputError
from skipclip.models.normalize import STATS, normalize


def as_frames(frames) -> torch.Tensor:
    """``frames`` (a NumPy array or tensor, ``(T, H, W, 3)`` or ``(B, T, H, W, 3)`` uint8) as a tensor.

    Raises:
        InvalidInputError: not uint8, or not RGB frames with channels last.
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else torch.as_tensor(frames)
    if x.dtype != torch.uint8:
        raise InvalidInputError(
            f"frames must be uint8 RGB (0-255), as skipclip.read_clip returns them; got {x.dtype}. Frames as "
            "floats in [0, 1]: pass (x * 255).round().astype(np.uint8) for a NumPy array, "
            "(x * 255).round().to(torch.uint8) for a tensor; or pass the video file itself"
        )
    if x.dim() not in (4, 5) or x.shape[-1] != 3:
        raise InvalidInputError(
            f"frames must be (T, H, W, 3) or (B, T, H, W, 3) with RGB last, got shape "
            f"{tuple(x.shape)}; a (T, 3, H, W) clip: x.transpose(0, 2, 3, 1) (NumPy) or x.permute(0, 2, 3, 1) (torch)"
        )
    return x


@dataclass(frozen=True)
class Preprocess:
    """Frames to an encoder's input, as its evaluation protocols prepare them.

    ``Preprocess(...)(frames)``: uint8 ``(T, H, W, 3)`` frames to a float ``(3, T, S, S)`` clip
    (``(B, T, H, W, 3)`` to ``(B, 3, T, S, S)``): the short side resized to ``short_side``
    (bilinear, antialiased), the centre ``crop_size`` square cut out, then standardised with
    ``stats``' mean and std. The encoder's windows are ``frames`` long.

    Attributes:
        frames: frames per window the encoder was fine-tuned and is tested with.
        crop_size: side of the square crop in pixels.
        short_side: the short side frames are resized to before cropping.
        stats: ``"kinetics"`` or ``"imagenet"`` (weights inflated from ImageNet).
    """

    frames: int
    crop_size: int
    short_side: int
    stats: str = "kinetics"

    def __post_init__(self):
        if self.stats not in STATS:
            raise InvalidInputError(f"stats must be one of {', '.join(STATS)}, got {self.stats!r}")
        if self.crop_size > self.short_side:
            raise InvalidInputError(f"crop_size {self.crop_size} is larger than short_side {self.short_side}")

    def crop(self, frames) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` frames resized and centre-cropped, still uint8: ``(3, T, S, S)``
        (batched: ``(B, 3, T, S, S)``)."""
        x = as_frames(frames)
        if x.dim() == 5:
            return torch.stack([self.crop(v) for v in x])
        x = resize_short_side(x.permute(0, 3, 1, 2), self.short_side)  # T x 3 x H' x W'
        h, w = x.shape[-2:]
        y0, x0 = (h - self.crop_size) // 2, (w - self.crop_size) // 2
        x = x[..., y0 : y0 + self.crop_size, x0 : x0 + self.crop_size]  # T x 3 x S x S
        return x.permute(1, 0, 2, 3).contiguous()  # 3 x T x S x S

    def __call__(self, frames) -> torch.Tensor:
        """The encoder's float input: ``(3, T, S, S)``, or ``(B, 3, T, S, S)`` for batched frames."""
        clip = self.crop(frames)
        return normalize(clip, channel_dim=clip.dim() - 4, stats=self.stats)

    def describe(self) -> str:
        return (
            f"{self.frames}-frame windows; short side resized to {self.short_side} px, centre "
            f"{self.crop_size} x {self.crop_size} crop, {self.stats} mean/std"
        )


__all__ = ["Preprocess", "as_frames"]
