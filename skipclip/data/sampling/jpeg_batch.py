"""Pretext samples whose frames stay JPEG until the batch is on its device: on a GPU, a prepared
store's frames are decoded there in one batched call (torchvision's ``decode_jpeg`` with
``device="cuda"``, nvjpeg), then resized, cropped and flipped there, so the loader does no pixel
work. The loader still draws every random choice (frames, crop, flip) from the same streams as
the CPU path, and :func:`decode_batch` on the CPU gives the CPU path's batch exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.io import decode_jpeg

from skipclip.data.failures import JPEGS  # the batch key of the still-encoded frames (one DeferredFrames a sample)
from skipclip.data.sampling.crop_flip import apply_box, resize_short_side


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


def split_window(frames: torch.Tensor, context_frames: int, num_targets: int, target_length: int,
                 far_negatives: int = 0) -> dict:
    """``(T, 3, S, S)`` cropped frames of one window -> ``context`` (3, K, S, S), ``targets``
    (M, d, 3, S, S) and, with far negatives, ``far`` (F, d, 3, S, S)."""
    k, md = context_frames, num_targets * target_length
    item = {"context": frames[:k].permute(1, 0, 2, 3).contiguous(),
            "targets": frames[k:k + md].reshape(num_targets, target_length, *frames.shape[1:]).contiguous()}
    if far_negatives:
        item["far"] = frames[k + md:].reshape(far_negatives, target_length, *frames.shape[1:]).contiguous()
    return item


def decode_batch(batch: dict, device, context_frames: int, num_targets: int, target_length: int,
                 far_negatives: int = 0) -> dict:
    """``batch`` with its :data:`JPEGS` decoded on ``device`` in one call and turned into the
    ``context``, ``targets`` (and ``far``) tensors of the CPU path; a batch without JPEGs is
    returned as it is.

    Raises:
        RuntimeError: the decoder's, for a JPEG damaged past its header (headers are checked when read).
    """
    deferred: list[DeferredFrames] | None = batch.pop(JPEGS, None)
    if not deferred:
        return batch
    flat = [j for d in deferred for j in d.jpegs]
    images = decode_jpeg(flat, device=torch.device(device))  # list of 3 x H x W uint8
    parts, at = [], 0
    for d in deferred:
        frames = torch.stack(images[at:at + len(d.jpegs)])[torch.as_tensor(d.order, device=images[0].device)]
        at += len(d.jpegs)
        if d.short_side is not None:
            frames = resize_short_side(frames, d.short_side)
        parts.append(split_window(apply_box(frames, d.crop, d.box), context_frames, num_targets, target_length,
                                  far_negatives))
    for key in parts[0]:
        batch[key] = torch.stack([p[key] for p in parts])
    return batch


__all__ = ["JPEGS", "DeferredFrames", "decode_batch", "split_window"]
