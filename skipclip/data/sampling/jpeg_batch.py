"""Pretext samples whose frames stay JPEG until the batch is on its device: on a GPU, a prepared
store's frames are decoded there in one batched call (torchvision's ``decode_jpeg`` with
``device="cuda"``, nvjpeg), then resized, cropped and flipped there, so the loader does no pixel
work. The loader still draws every random choice (frames, crop, flip) from the same streams as
the CPU path, and :func:`decode_batch` on the CPU gives the CPU path's batch exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torchvision.io import decode_jpeg

from skipclip.batch import PretextBatch
from skipclip.data.sampling.crop_flip import apply_box, resize_short_side

JPEGS = "jpegs"  # the item key of the still-encoded frames (one DeferredFrames a sample)


@dataclass
class DeferredFrames:
    """One sample's frames, still JPEG: ``jpegs`` the distinct frames' bytes (uint8, 1-D, headers
    already checked against ``size_in``), ``order`` which of them each frame of the window is,
    then the resize to ``size`` (short side ``short_side``; ``None``: none) and the crop box."""

    jpegs: list[torch.Tensor]
    order: np.ndarray
    short_side: int | None
    crop: int
    box: tuple[int, int, bool]


@dataclass
class DeferredBatch:
    """A :class:`~skipclip.batch.PretextBatch` whose pixels are still JPEG (``jpegs``, one
    :class:`DeferredFrames` a sample): :func:`decode_batch` makes the batch of it on the device.
    The other fields are the PretextBatch's."""

    jpegs: list[DeferredFrames]
    video: Tensor | None = None
    group: Tensor | None = None
    pad: Tensor | None = None
    skipped: Tensor | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.jpegs)


def split_window(frames: torch.Tensor, context_frames: int, num_targets: int, target_length: int) -> dict:
    """``(T, 3, S, S)`` cropped frames of one window -> ``context`` (3, K, S, S) and ``targets``
    (M, d, 3, S, S)."""
    k, md = context_frames, num_targets * target_length
    return {
        "context": frames[:k].permute(1, 0, 2, 3).contiguous(),
        "targets": frames[k : k + md].reshape(num_targets, target_length, *frames.shape[1:]).contiguous(),
    }


def decode_batch(
    batch: DeferredBatch | PretextBatch, device, context_frames: int, num_targets: int, target_length: int
) -> PretextBatch:
    """``batch``'s JPEGs decoded on ``device`` in one call and turned into the ``context`` and
    ``targets`` of the CPU path's :class:`~skipclip.batch.PretextBatch`; a batch already decoded
    is returned as it is.

    Raises:
        RuntimeError: the decoder's, for a JPEG damaged past its header (headers are checked when read).
    """
    if isinstance(batch, PretextBatch):
        return batch
    flat = [j for d in batch.jpegs for j in d.jpegs]
    images = decode_jpeg(flat, device=torch.device(device))  # list of 3 x H x W uint8
    parts, at = [], 0
    for d in batch.jpegs:
        frames = torch.stack(images[at : at + len(d.jpegs)])[torch.as_tensor(d.order, device=images[0].device)]
        at += len(d.jpegs)
        if d.short_side is not None:
            frames = resize_short_side(frames, d.short_side)
        parts.append(split_window(apply_box(frames, d.crop, d.box), context_frames, num_targets, target_length))
    return PretextBatch(
        context=torch.stack([p["context"] for p in parts]),
        targets=torch.stack([p["targets"] for p in parts]),
        video=batch.video,
        group=batch.group,
        pad=batch.pad,
        skipped=batch.skipped,
        failed=batch.failed,
    )


__all__ = ["JPEGS", "DeferredBatch", "DeferredFrames", "decode_batch", "split_window"]
