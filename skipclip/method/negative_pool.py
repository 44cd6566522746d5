"""Negatives from other videos (section 3 of the paper): every context scored against the pool
of all target frames of the batch, gathered across processes, and the masks that keep a video's
own frames, repeats, padding and (optionally) its recording out of its negatives."""

from __future__ import annotations

import torch
from torch import Tensor

from skipclip.method import losses
from skipclip.utils.dist import gather_no_grad, gather_with_grad
from skipclip.utils.dist import rank as dist_rank


def score_pool(
    h: Tensor,
    z: Tensor,
    m: int,
    videos: Tensor | None = None,
    pad: Tensor | None = None,
    groups: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Positive scores ``(B, M)``, negative scores ``(B, P)``, the negatives' mask ``(B, P)`` and
    the rows that count ``(B,)`` (``None`` without ``videos``: all of them).

    Negatives are the target frames of every other video, gathered across processes with
    gradients. With ``videos`` ``(B,)`` and ``pad`` ``(B,)``: a repeated video or a padded item
    leaves the pool and its row does not count, and no row takes its own video's frames; with
    ``groups`` ``(B,)`` (a recording's id) no row takes its own group's frames either.
    """
    b, dev = h.shape[0], h.device
    z_pool = gather_with_grad(z)  # W*B*M x C x H x W
    s = losses.score_all(h, z_pool)  # B x W*B*M, fp32
    own = dist_rank() * b + torch.arange(b, device=dev)  # B: this rank's rows in the pool
    s_videos = s.view(b, -1, m)  # B x W*B x M
    pos = s_videos[torch.arange(b, device=dev), own]  # B x M
    mask = torch.ones(s_videos.shape[:2], dtype=torch.bool, device=dev)  # B x W*B
    mask[torch.arange(b, device=dev), own] = False
    counts = None  # without video ids every row counts
    if videos is not None:
        counts = mask_by_video(mask, own, videos.to(dev), pad)
    if groups is not None:
        pool_groups = gather_no_grad(groups.to(dev))  # W*B
        mask &= pool_groups[own][:, None] != pool_groups[None, :]  # B x W*B
    mask = mask[:, :, None].expand(-1, -1, m).reshape(b, -1)  # B x W*B*M
    return pos, s, mask, counts


def mask_by_video(mask: Tensor, own: Tensor, videos: Tensor, pad: Tensor | None) -> Tensor:
    """Leave repeated videos and padded items out of the pool and each row's own video out of
    its negatives (``mask`` ``(B, W*B)``, in place); returns the rows that count ``(B,)``."""
    pool_videos = gather_no_grad(videos)  # W*B
    pool_pad = (
        gather_no_grad(pad.to(videos.device).bool())
        if pad is not None
        else torch.zeros_like(pool_videos, dtype=torch.bool)
    )  # W*B
    same = pool_videos[:, None] == pool_videos[None, :]  # W*B x W*B
    repeat = (same & torch.ones_like(same).tril(-1)).any(1)  # W*B: met earlier in the batch
    pool_ok = ~pool_pad & ~repeat  # W*B
    mask &= pool_ok[None, :] & ~same[own]  # B x W*B
    return pool_ok[own]  # B


__all__ = ["mask_by_video", "score_pool"]
