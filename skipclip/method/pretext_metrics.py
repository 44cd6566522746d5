"""Health metrics of the pretext task: how well scores order the targets.

Targets are given nearest to the context first, so a perfect score matrix decreases along each
row: ``pos[b, i] > pos[b, j]`` for every ``i < j``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from skipclip.errors import InvalidInputError


def _pair_signs(pos: Tensor) -> Tensor:
    """``sign(pos_i - pos_j)`` for the pairs ``i < j`` of each row, ``(B, M*(M-1)/2)``."""
    if pos.dim() != 2 or pos.shape[1] < 2:
        raise InvalidInputError(f"pos must be a (B, M) score matrix with M >= 2, got shape {tuple(pos.shape)}")
    i, j = torch.triu_indices(pos.shape[1], pos.shape[1], offset=1, device=pos.device)  # P, P
    return torch.sign(pos[:, i] - pos[:, j])  # B x P


def pairwise_ranking_accuracy(pos: Tensor) -> Tensor:
    """Fraction of target pairs ``i < j`` ranked correctly, ``pos_i > pos_j`` (ties count wrong).

    Args:
        pos: ``(B, M)`` scores, nearest target first.

    Returns:
        Scalar in ``[0, 1]``, over all pairs of all rows.

    Raises:
        ValueError: ``pos`` is not ``(B, M)`` with ``M >= 2``.
    """
    return (_pair_signs(pos) > 0).float().mean()


def kendall_tau(pos: Tensor) -> Tensor:
    """Kendall rank correlation (tau-a) between the scores and the true order, averaged over rows.

    Per row, ``(concordant - discordant) / (M * (M - 1) / 2)`` where a pair ``i < j`` is
    concordant when ``pos_i > pos_j``; ties count as neither. 1 for scores strictly decreasing
    along the row (perfect order), -1 for strictly increasing (reversed).

    Args:
        pos: ``(B, M)`` scores, nearest target first.

    Returns:
        Scalar in ``[-1, 1]``.

    Raises:
        ValueError: ``pos`` is not ``(B, M)`` with ``M >= 2``.
    """
    return _pair_signs(pos).float().mean(dim=1).mean()


__all__ = ["kendall_tau", "pairwise_ranking_accuracy"]
