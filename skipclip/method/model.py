"""Skip-Clip as a plain ``nn.Module`` that receives its encoders (section 3 of the paper).

One forward pass over a batch of uint8 clips:

1. the context clips go through g: h = g(c), ``(B, C, H, W)``;
2. all target frames of the batch, plus (with the rotation task) one rotated copy of each, go
   through f as ONE batch: z = f(x), ``(B*M [+ B*M], C, H, W)``;
3. every context is scored against every target frame of the batch in one einsum
   (:func:`~skipclip.method.losses.score_all`): the diagonal blocks are the positives, the other
   videos' targets are the negatives (in-batch negatives, free of extra encoder passes);
4. loss terms: ranking (Eq. 1), contrastive (Eq. 2, or InfoNCE) and rotation; the auxiliary terms
   can be switched off (the paper's Table 2 rows).

Scores and losses are fp32 outside autocast, whatever precision the encoders run in. g's map is
average-pooled onto f's grid (:func:`to_frame_grid`; torchvision's video stems have no max-pool).
Rotation is fed as separate rotated copies, so the ranking sees unrotated frames. The variants
measured against these choices and dropped are in docs/results.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from skipclip.batch import PretextBatch
from skipclip.errors import InvalidInputError
from skipclip.method import losses
from skipclip.method.negative_pool import score_pool
from skipclip.method.pretext_metrics import kendall_tau, pairwise_ranking_accuracy
from skipclip.method.rotation import rotate_batch
from skipclip.models.memory_format import to_channels_last_
from skipclip.models.normalize import input_stats_of, normalize

CONTRASTIVE = ("hinge", "infonce")
HEALTH = ("rank_acc", "kendall_tau", "pos_score", "neg_score", "pos_neg_gap")


def to_frame_grid(h: Tensor, size: tuple[int, int]) -> Tensor:
    """g's map ``(B, C, H, W)`` on f's grid ``size`` by adaptive average pooling (unchanged when
    the grids already match, as for ``r3d18_hara``, whose stem has the 2D ResNet's max-pool)."""
    if tuple(h.shape[-2:]) == tuple(size):
        return h
    return F.adaptive_avg_pool2d(h, size)  # B x C x size


@dataclass
class Encoded:
    """Both encoders' output: ``h`` ``(B, C, H, W)`` on f's grid, ``z`` ``(B*M, C, H, W)``; with the
    rotation task ``rot_logits`` ``(B*M, 4)`` and ``rot_labels`` ``(B*M,)``."""

    h: Tensor
    z: Tensor
    num_targets: int
    rot_logits: Tensor | None = None
    rot_labels: Tensor | None = None


@dataclass
class StepScores:
    """One step's scores over the R rows that count: ``pos`` ``(R, M)`` nearest first, ``neg`` ``(R, P)``
    against every gathered target frame, ``mask`` ``(R, P)`` the valid negatives, ``rows`` ``(B,)``,
    ``zero`` a zero that keeps the graph (and DDP's hooks) when no row counts."""

    pos: Tensor
    neg: Tensor
    mask: Tensor
    rows: Tensor
    zero: Tensor


class SkipClipModel(nn.Module):
    """Rank future target frames against a context clip.

    Args:
        context_encoder: g, ``(B, 3, K, S, S) -> (B, C, H, W)``.
        frame_encoder: f, ``(N, 3*d, S, S) -> (N, C, H, W)``.
        rotation_head: 4-way head on f's map, or ``None`` to train without the rotation task.
        rank_margin: delta_rank of Eq. 1.
        neg_margin: delta_neg of Eq. 2.
        negatives: include the contrastive term.
        channels_last: keep weights and inputs channels-last (faster convolutions).
        contrastive: ``"hinge"`` (Eq. 2) or ``"infonce"`` (:func:`~skipclip.method.losses.info_nce_loss`).
        temperature: InfoNCE's temperature.

    Raises:
        ValueError: a negative margin, an unknown ``contrastive`` or a non-positive temperature.
    """

    def __init__(
        self,
        context_encoder: nn.Module,
        frame_encoder: nn.Module,
        rotation_head: nn.Module | None = None,
        *,
        rank_margin: float = 0.1,
        neg_margin: float = 0.1,
        negatives: bool = True,
        channels_last: bool = True,
        contrastive: str = "hinge",
        temperature: float = 0.1,
    ):
        super().__init__()
        if rank_margin < 0 or neg_margin < 0:
            raise InvalidInputError(f"margins must be >= 0, got rank {rank_margin}, neg {neg_margin}")
        if contrastive not in CONTRASTIVE:
            raise InvalidInputError(f"contrastive must be one of {CONTRASTIVE}, got {contrastive!r}")
        if not temperature > 0:
            raise InvalidInputError(f"temperature must be > 0, got {temperature!r}")
        self.context_encoder, self.frame_encoder, self.rotation_head = context_encoder, frame_encoder, rotation_head
        self.rank_margin, self.neg_margin, self.negatives = rank_margin, neg_margin, negatives
        self.contrastive, self.temperature = contrastive, temperature
        self.channels_last = channels_last
        if channels_last:
            to_channels_last_(self)  # once; else every convolution reorders its weight per call

    def forward(self, batch: PretextBatch) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """All loss terms ``{"rank", "contrastive"?, "rotation"?}`` and the pretext health metrics of
        one batch, over the rows that count (see :meth:`scores`); ``metrics["videos"]`` is their
        number. The rotation task runs in training mode only."""
        rotation = self.rotation_head is not None and self.training
        enc = self.encode(batch.context, batch.targets, rotation)  # h = g(context), z = f(targets)
        with losses.fp32(enc.h.device):  # scores and hinges in fp32, whatever the autocast
            pos, neg, mask, counts = self.scores(
                enc.h, enc.z, enc.num_targets, batch.video, batch.pad, batch.group
            )  # Eq. 3
            rows = counts if counts is not None else torch.ones(len(pos), dtype=torch.bool, device=pos.device)
            s = StepScores(pos[rows], neg[rows], mask[rows], rows, zero=pos.sum() * 0)  # R x M, R x P, R x P
            terms = {"rank": self.ranking_loss(s.pos) if len(s.pos) else s.zero}  # Eq. 1
            ok = s.mask.any(1)  # R: rows with at least one negative (a lone video has none)
            if self.negatives and bool(ok.any()):  # Eq. 2, or InfoNCE
                terms["contrastive"] = (
                    losses.info_nce_loss(s.pos[ok], s.neg[ok], self.temperature, mask=s.mask[ok])
                    if self.contrastive == "infonce"
                    else losses.contrastive_loss(s.pos[ok], s.neg[ok], self.neg_margin, mask=s.mask[ok])
                )
        if enc.rot_logits is not None and enc.rot_labels is not None:  # the rotation task (training only)
            terms["rotation"] = losses.rotation_loss(enc.rot_logits, enc.rot_labels)
        return terms, self.health(s, enc)

    def ranking_loss(self, pos: Tensor) -> Tensor:
        """The ranking term of the positives ``(R, M)``, nearest first: Eq. 1 (an experiment may override it)."""
        return losses.ranking_loss(pos, self.rank_margin)

    def encode(self, context: Tensor, targets: Tensor, rotation: bool = False) -> Encoded:
        """Run both encoders on uint8 clips: ``context`` ``(B, 3, K, S, S)``, ``targets``
        ``(B, M, d, 3, S, S)``; with ``rotation`` f also sees one rotated copy of each target frame."""
        b, m = targets.shape[:2]
        frames = targets.flatten(0, 1).flatten(1, 2)  # B*M x 3d x S x S, uint8 (a view)
        rot_labels, head = None, self.rotation_head if rotation else None
        if head is not None:  # rotate the uint8 frames: a quarter of the bytes of float ones
            rot_labels = torch.randint(0, 4, (b * m,), device=frames.device)  # B*M
            frames = torch.cat([frames, rotate_batch(frames, rot_labels)])  # 2B*M x 3d x S x S
        fmt2d, fmt3d = (
            (torch.channels_last, torch.channels_last_3d)
            if self.channels_last
            else (torch.contiguous_format, torch.contiguous_format)
        )
        context = normalize(context, 1, fmt3d, stats=input_stats_of(self.context_encoder))  # B x 3 x K x S x S
        frames = normalize(frames, 1, fmt2d, stats=input_stats_of(self.frame_encoder))  # (2)B*M x 3d x S x S
        z_all = self.frame_encoder(frames)  # (2)B*M x C x H x W
        h = to_frame_grid(self.context_encoder(context), z_all.shape[-2:])  # B x C x H x W
        enc = Encoded(h, z_all[: b * m], m)  # z: B*M x C x H x W
        if head is not None:
            enc.rot_logits, enc.rot_labels = head(z_all[b * m :]), rot_labels  # B*M x 4, B*M
        return enc

    def scores(
        self, h: Tensor, z: Tensor, m: int, videos: Tensor | None = None, pad: Tensor | None = None, groups=None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """Each context against the pool of target frames: :func:`~skipclip.method.negative_pool.score_pool`."""
        return score_pool(h, z, m, videos, pad, groups)

    @torch.no_grad()
    def health(self, s: StepScores, enc: Encoded) -> dict[str, Tensor]:
        """Pretext health of the step: ranking accuracy, Kendall's tau, mean positive and negative
        scores and their gap, rotation accuracy (with the rotation task), and ``videos``."""
        if len(s.pos):
            neg_mean = (s.neg * s.mask).sum(1) / s.mask.sum(1).clamp_min(1)  # R
            metrics = {
                "rank_acc": pairwise_ranking_accuracy(s.pos),
                "kendall_tau": kendall_tau(s.pos),
                "pos_score": s.pos.mean(),
                "neg_score": neg_mean.mean(),
                "pos_neg_gap": s.pos.mean() - neg_mean.mean(),
            }
        else:
            metrics = {k: s.zero.detach() for k in HEALTH}
        if enc.rot_logits is not None and enc.rot_labels is not None:
            metrics["rot_acc"] = (enc.rot_logits.argmax(1) == enc.rot_labels).float().mean()
        metrics["videos"] = s.rows.sum()
        return metrics
