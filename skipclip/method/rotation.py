"""The rotation task's input: every target frame turned by a random multiple of 90 degrees."""

from __future__ import annotations

import torch

from skipclip.errors import InvalidInputError


def rotate_batch(frames: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate each ``(N, C, H, W)`` frame by ``k[n] * 90`` degrees counter-clockwise (square frames).

    One ``gather`` of each frame's pixels through a table of the four rotations' pixel orders:
    no boolean masks, so no data-dependent shapes and no host sync on a GPU.
    Equals ``torch.rot90(frames[n], k[n], dims=(-2, -1))`` for every ``n``.

    Raises:
        ValueError: the frames are not ``(N, C, H, W)`` with ``H == W``, or ``k`` is not ``(N,)``.
    """
    if frames.dim() != 4 or frames.shape[-1] != frames.shape[-2] or k.shape != frames.shape[:1]:
        raise InvalidInputError(
            f"rotate_batch needs square (N, C, H, W) frames and (N,) quarter turns, "
            f"got {tuple(frames.shape)} and {tuple(k.shape)}"
        )
    n, c, s = frames.shape[:3]
    cells = torch.arange(s * s, device=frames.device).view(s, s)  # S x S, source pixel of each pixel
    orders = torch.stack([cells.rot90(q, dims=(0, 1)).flatten() for q in range(4)])  # 4 x S*S
    index = orders[k].unsqueeze(1).expand(n, c, s * s)  # N x C x S*S
    return frames.reshape(n, c, s * s).gather(2, index).view(n, c, s, s)  # N x C x S x S
