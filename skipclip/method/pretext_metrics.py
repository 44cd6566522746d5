"""Health metrics of the pretext task: how well scores order the targets.

Targets are given nearest to the context first, so a perfect score matrix decreases along each
row: ``pos[b, i] > pos[b, j]`` for every ``i < j``.

The per-batch metrics (:func:`pairwise_ranking_accuracy`, :func:`kendall_tau`) log training;
the per-window ones (:func:`window_metrics`) and their summary with a bootstrap interval
(:func:`summarise`) measure pretext health over many fixed windows (docs/pretext-health.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from skipclip.errors import InvalidInputError
from skipclip.method.intervals import INTERVAL, cluster_t_interval


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


def window_metrics(
    pos: Tensor, neg: Tensor | None = None, neg_mask: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-window rank accuracy, Kendall's tau and positive-negative gap.

    Rank accuracy is the fraction of target pairs ``i < j`` with ``pos_i > pos_j``, a tie counting
    one half (a ranker that cannot tell the targets apart scores 0.5, chance, not 0 or 1). Tau as
    :func:`kendall_tau` (ties count neither way). The gap is the row's mean positive score minus
    the mean of its negatives where ``neg_mask`` is true (NaN for a row without one).

    Args:
        pos: ``(B, M)`` scores of each window's targets, nearest first.
        neg: ``(B, P)`` scores of each window's context against other frames, or ``None``.
        neg_mask: ``(B, P)`` which of ``neg`` count (default: all).

    Returns:
        ``(B,)`` rank accuracy, ``(B,)`` tau, ``(B,)`` gap (all NaN without ``neg``), float32.

    Raises:
        ValueError: ``pos`` is not ``(B, M)`` with ``M >= 2``, or ``neg`` and ``neg_mask`` differ in shape.
    """
    signs = _pair_signs(pos).float()  # B x P
    acc = ((signs + 1) / 2).mean(dim=1)  # B: 1 right, 1/2 tie, 0 wrong
    tau = signs.mean(dim=1)  # B
    gap = torch.full_like(acc, float("nan"))  # B
    if neg is not None:
        mask = torch.ones_like(neg, dtype=torch.bool) if neg_mask is None else neg_mask.bool()
        if mask.shape != neg.shape or neg.shape[0] != pos.shape[0]:
            raise InvalidInputError(
                f"neg {tuple(neg.shape)} and neg_mask {tuple(mask.shape)} must both be ({pos.shape[0]}, P)"
            )
        count = mask.sum(dim=1)  # B
        neg_mean = (neg.float() * mask).sum(dim=1) / count.clamp_min(1)  # B
        gap = torch.where(count > 0, pos.float().mean(dim=1) - neg_mean, gap)  # B
    return acc, tau, gap


def bootstrap_interval(
    values: np.ndarray, groups: np.ndarray | None = None, *, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``, resampling whole groups.

    Not what pretext health reports: with 6-9 videos it covers 86-89 % at a nominal 95 %
    (``tests/method/test_intervals.py``); :func:`~skipclip.method.intervals.cluster_t_interval` does.

    Windows of one video are alike, so the unit resampled is the video (a cluster bootstrap):
    each resample draws as many groups as there are, with replacement, and takes the mean over
    all their values. With one group the interval is the point itself (nothing to resample);
    ``groups=None`` resamples single values.

    Args:
        values: ``(N,)`` per-window values (NaN ones are left out).
        groups: ``(N,)`` group ids (the window's video), or ``None``.
        resamples: bootstrap resamples.
        level: coverage of the interval.
        seed: seed of the resampling.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when no value is finite.

    Raises:
        ValueError: ``groups`` of another length, ``resamples`` < 1 or ``level`` outside (0, 1).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    groups = np.arange(len(values)) if groups is None else np.asarray(groups).reshape(-1)
    if len(groups) != len(values):
        raise InvalidInputError(f"one group per value needed: {len(values)} values, {len(groups)} groups")
    if resamples < 1 or not 0 < level < 1:
        raise InvalidInputError(f"bootstrap needs resamples >= 1 and level in (0, 1), got {resamples}, {level}")
    keep = np.isfinite(values)
    values, groups = values[keep], groups[keep]
    if not len(values):
        return float("nan"), float("nan")
    _, g = np.unique(groups, return_inverse=True)  # N: group index 0..G-1
    sums, counts = np.bincount(g, weights=values), np.bincount(g).astype(np.float64)  # G, G
    draws = np.random.default_rng(seed).integers(0, len(sums), size=(resamples, len(sums)))  # R x G
    means = sums[draws].sum(1) / counts[draws].sum(1)  # R
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class RankSummary:
    """One ranker's pretext health on one set of windows.

    Attributes:
        rank_acc: mean pairwise rank accuracy over the windows (ties count one half).
        rank_acc_ci: its interval (:data:`INTERVAL`; NaN with one video), within [0, 1].
        kendall_tau: mean Kendall's tau.
        pos_neg_gap: mean positive minus negative score (``None`` when no window had a negative:
            a negative is a target of a window of another video in the same batch).
        windows: windows measured.
        videos: videos they come from.
        per_window: ``(accuracy, video)`` arrays of every window, in the order read, for paired
            differences with another ranker on the same windows (not in :meth:`to_dict`).
    """

    rank_acc: float
    rank_acc_ci: tuple[float, float]
    kendall_tau: float
    pos_neg_gap: float | None
    windows: int
    videos: int
    per_window: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        ci = [x if np.isfinite(x) else None for x in self.rank_acc_ci]
        return {
            "rank_acc": self.rank_acc,
            "rank_acc_ci": ci,
            "kendall_tau": self.kendall_tau,
            "pos_neg_gap": self.pos_neg_gap,
            "windows": self.windows,
            "videos": self.videos,
        }


def _clipped(interval: tuple[float, float]) -> tuple[float, float]:
    """An interval of a proportion, clipped to [0, 1]."""
    lo, hi = interval
    return float(np.clip(lo, 0, 1)), float(np.clip(hi, 0, 1))


def summarise(
    acc: np.ndarray, tau: np.ndarray, gap: np.ndarray, videos: np.ndarray, *, seed: int = 0, resamples: int = 1000
) -> RankSummary:
    """Means of per-window metrics (:func:`window_metrics`) with the rank accuracy's interval
    (:func:`~skipclip.method.intervals.cluster_t_interval` over ``videos``, clipped to [0, 1]);
    ``seed`` and ``resamples`` are unused (kept for callers of the bootstrap it replaced).

    Raises:
        ValueError: no window, or arrays of different lengths.
    """
    acc, tau, gap, videos = (np.asarray(a).reshape(-1) for a in (acc, tau, gap, videos))
    if not len(acc) or not len(acc) == len(tau) == len(gap) == len(videos):
        raise InvalidInputError(
            f"summarise needs one value per window in each array, got lengths "
            f"{len(acc)}, {len(tau)}, {len(gap)}, {len(videos)}"
        )
    finite_gap = gap[np.isfinite(gap)]
    return RankSummary(
        rank_acc=float(acc.mean()),
        rank_acc_ci=_clipped(cluster_t_interval(acc, videos)),
        kendall_tau=float(tau.mean()),
        pos_neg_gap=float(finite_gap.mean()) if len(finite_gap) else None,
        windows=int(len(acc)),
        videos=int(len(np.unique(videos))),
        per_window=(acc.astype(np.float64), videos),
    )


__all__ = [
    "INTERVAL",
    "RankSummary",
    "bootstrap_interval",
    "kendall_tau",
    "pairwise_ranking_accuracy",
    "summarise",
    "window_metrics",
]
