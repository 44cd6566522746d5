"""The Skip-Clip score function and loss terms, as pure functions of tensors.

Equations refer to the Skip-Clip paper: Eq. 3 the score ``Γ(h, z)``, Eq. 1 the ranking loss,
Eq. 2 the contrastive loss; the rotation loss is the auxiliary task of Sec. 3.1. All terms are
summed without weights (Sec. 4.1); that sum is the caller's. One term is not the paper's:
:func:`info_nce_loss` (a non-saturating alternative to Eq. 2).

Scores are computed in fp32 whatever the autocast state: under bf16 autocast they would be off
by up to ~2e-3 (resolution 4e-3 in [0.5, 1]), while neighbouring targets' scores differ by
~1.5e-2 at initialisation, so the hinges and the rank metrics would see rounding noise. The
losses, given fp32 scores, stay in fp32 (autocast leaves element-wise ops alone).
"""

from __future__ import annotations

import contextlib
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor

from skipclip.errors import InvalidInputError


def _check_margin(margin: float) -> None:
    if isinstance(margin, Tensor):
        if margin.numel() != 1:
            raise InvalidInputError(f"margin must be a scalar, got a tensor of shape {tuple(margin.shape)}")
        margin = margin.item()
    if not isinstance(margin, numbers.Real) or isinstance(margin, bool) or not margin >= 0:
        raise InvalidInputError(f"margin must be a non-negative number, got {margin!r}")


def _check_scores(name: str, scores: Tensor) -> None:
    if scores.dim() != 2:
        raise InvalidInputError(f"{name} must be a (B, M) score matrix, got shape {tuple(scores.shape)}")


def fp32(device: torch.device):
    """A context in which autocast is off on ``device`` (a no-op where autocast does not exist)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def score(h: Tensor, z: Tensor, eps: float = 1e-8) -> Tensor:
    """Score of each target against its own context (Eq. 3 of the Skip-Clip paper).

    The mean over the ``H * W`` aligned cells of the cosine similarity (over channels) of the
    context encoding and the target encoding.

    Args:
        h: context encodings, ``(B, C, H, W)``.
        z: target encodings, ``(B, N, C, H, W)``; ``z[b]`` is scored against ``h[b]``.
        eps: floor of the cell norms, so all-zero cells score 0 instead of NaN.

    Returns:
        Scores in ``[-1, 1]``, ``(B, N)``, float32 (computed outside autocast).

    Raises:
        ValueError: ``h`` is not 4-D, ``z`` is not 5-D, or their ``B, C, H, W`` differ.
    """
    if h.dim() != 4 or z.dim() != 5 or z.shape[0] != h.shape[0] or z.shape[2:] != h.shape[1:]:
        raise InvalidInputError(
            f"score needs h (B, C, H, W) and z (B, N, C, H, W) with matching B, C, H, W; "
            f"got h {tuple(h.shape)} and z {tuple(z.shape)}"
        )
    with fp32(h.device):
        h = F.normalize(h.float(), dim=1, eps=eps)  # B x C x H x W
        z = F.normalize(z.float(), dim=2, eps=eps)  # B x N x C x H x W
        cells = h.shape[2] * h.shape[3]
        return torch.einsum("bchw,bnchw->bn", h, z) / cells  # B x N


def score_all(h: Tensor, z: Tensor, eps: float = 1e-8) -> Tensor:
    """Score of every context against every frame encoding (Eq. 3), in one einsum.

    Training scores each context against all frames of the batch at once: a row's own targets
    are its positives, the other videos' frames its in-batch negatives.

    Args:
        h: context encodings, ``(B, C, H, W)``.
        z: frame encodings, ``(P, C, H, W)``.
        eps: floor of the cell norms.

    Returns:
        Scores, ``(B, P)``, float32; entry ``[b, p]`` equals ``score(h[b:b+1], z[p][None, None])``.

    Raises:
        ValueError: ``h`` or ``z`` is not 4-D, or their ``C, H, W`` differ.
    """
    if h.dim() != 4 or z.dim() != 4 or z.shape[1:] != h.shape[1:]:
        raise InvalidInputError(
            f"score_all needs h (B, C, H, W) and z (P, C, H, W) with matching C, H, W; "
            f"got h {tuple(h.shape)} and z {tuple(z.shape)}"
        )
    with fp32(h.device):
        h = F.normalize(h.float(), dim=1, eps=eps)  # B x C x H x W
        z = F.normalize(z.float(), dim=1, eps=eps)  # P x C x H x W
        cells = h.shape[2] * h.shape[3]
        return torch.einsum("bchw,pchw->bp", h, z) / cells  # B x P


def ranking_loss(pos: Tensor, margin: float) -> Tensor:
    """Hinge ranking loss over the target order (Eq. 1 of the Skip-Clip paper).

    ``sum_{i<j} max(0, -pos_i + pos_j + margin)`` per context, averaged over the batch: each
    target must score at least ``margin`` above every later one.

    Args:
        pos: scores of the targets, ``(B, M)``, nearest to the context first.
        margin: ``δ_rank``, non-negative.

    Returns:
        Scalar loss (0 when ``M == 1``: there are no pairs).

    Raises:
        ValueError: ``pos`` is not 2-D or ``margin`` is negative.
    """
    _check_scores("pos", pos)
    _check_margin(margin)
    m = pos.shape[1]
    hinge = (pos.unsqueeze(1) - pos.unsqueeze(2) + margin).clamp(min=0)  # B x M x M, [b,i,j]: -p_i+p_j+δ
    pairs = torch.ones(m, m, dtype=torch.bool, device=pos.device).triu(diagonal=1)  # M x M, i < j
    return (hinge * pairs).sum(dim=(1, 2)).mean()


def _negatives_mask(pos: Tensor, neg: Tensor, mask: Tensor | None, need_one: bool = True) -> Tensor:
    """The checked boolean mask of valid negatives, ``(B, Q)`` (all ``True`` when ``mask`` is None).

    Raises:
        ValueError: ``neg`` not ``(B, Q)`` with the ``B`` of ``pos`` and ``Q >= 1``, a mask of another
            dtype or shape, or (``need_one``) a row with no valid negative.
    """
    _check_scores("pos", pos)
    _check_scores("neg", neg)
    if neg.shape[0] != pos.shape[0] or neg.shape[1] == 0:
        raise InvalidInputError(
            f"neg must be (B, Q) with the B of pos and Q >= 1; got pos {tuple(pos.shape)}, neg {tuple(neg.shape)}"
        )
    if mask is None:
        return torch.ones_like(neg, dtype=torch.bool)
    if mask.dtype != torch.bool or mask.shape != neg.shape:
        raise InvalidInputError(
            f"mask must be a bool tensor shaped like neg {tuple(neg.shape)}, got {mask.dtype} {tuple(mask.shape)}"
        )
    empty = ~mask.any(dim=1)  # B
    if need_one and bool(empty.any()):
        rows = torch.nonzero(empty).flatten().tolist()
        raise InvalidInputError(f"rows {rows[:10]} of mask have no valid negative; each row needs at least one")
    return mask


def contrastive_loss(pos: Tensor, neg: Tensor, margin: float, mask: Tensor | None = None) -> Tensor:
    """Hinge contrastive loss of targets against negatives (Eq. 2 of the Skip-Clip paper).

    ``sum_i max(0, -pos_i + E_q[neg_q] + margin)`` over the ``M`` targets of a context, averaged
    over the batch. The expectation is the mean over the negatives (the paper's index runs to
    ``M`` inclusive, a typo for the ``M`` targets).

    Args:
        pos: scores of the targets, ``(B, M)``.
        neg: scores of frames from other videos, ``(B, Q)``.
        margin: ``δ_neg``, non-negative.
        mask: optional boolean ``(B, Q)``; ``True`` marks valid negatives, and the mean runs over
            those only (in-batch negatives exclude a row's own frames).

    Returns:
        Scalar loss.

    Raises:
        ValueError: bad shapes, a negative ``margin``, a non-boolean ``mask`` of another shape than
            ``neg``, or a row with no valid negative.
    """
    _check_margin(margin)
    mask = _negatives_mask(pos, neg, mask)
    neg_ref = (neg * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True)  # B x 1
    return (neg_ref - pos + margin).clamp(min=0).sum(dim=1).mean()


def info_nce_loss(pos: Tensor, neg: Tensor, temperature: float, mask: Tensor | None = None) -> Tensor:
    """InfoNCE of each target against the negatives: a non-saturating alternative to Eq. 2.

    ``sum_i -log(exp(pos_i / t) / (exp(pos_i / t) + sum_q exp(neg_q / t)))`` over the ``M``
    targets of a context (summed, as Eq. 2 sums its hinges), averaged over the batch; the sum over
    ``q`` runs over the valid negatives. Unlike a hinge, the loss never reaches 0, so targets keep
    being pulled above the negatives after the margin is met, hard negatives weighted most.

    Args:
        pos: scores of the targets, ``(B, M)``.
        neg: scores of the negatives (other videos' targets), ``(B, Q)``.
        temperature: ``t > 0``; scores are cosines in ``[-1, 1]``, so ``t`` sets the logits' range.
        mask: optional boolean ``(B, Q)``, ``True`` for a valid negative (a row with none gives 0
            for each target: the positive alone).

    Returns:
        Scalar loss.

    Raises:
        ValueError: bad shapes, a non-positive ``temperature`` or a bad ``mask``.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise InvalidInputError(f"temperature must be a number > 0, got {temperature!r}")
    mask = _negatives_mask(pos, neg, mask, need_one=False)
    neg_logits = (neg / temperature).masked_fill(~mask, float("-inf"))  # B x Q
    pos_logits = pos / temperature  # B x M
    logits = torch.cat(
        [pos_logits.unsqueeze(2), neg_logits.unsqueeze(1).expand(-1, pos.shape[1], -1)], 2
    )  # B x M x 1+Q
    return (torch.logsumexp(logits, dim=2) - pos_logits).sum(dim=1).mean()


def rotation_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of the rotation prediction (auxiliary task, Sec. 3.1), mean over frames.

    Args:
        logits: ``(N, K)`` rotation logits (K = 4 angles).
        labels: ``(N,)`` integer rotation indices in ``[0, K)``.

    Returns:
        Scalar loss.

    Raises:
        ValueError: ``logits`` is not 2-D or ``labels`` not a matching 1-D integer tensor.
    """
    if logits.dim() != 2 or labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise InvalidInputError(
            f"rotation_loss needs logits (N, K) and labels (N,); got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise InvalidInputError(f"labels must be integer class indices, got dtype {labels.dtype}")
    return F.cross_entropy(logits, labels)


__all__ = ["contrastive_loss", "fp32", "info_nce_loss", "ranking_loss", "rotation_loss", "score", "score_all"]
