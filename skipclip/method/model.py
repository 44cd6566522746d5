"""Skip-Clip as a plain ``nn.Module`` that receives its encoders (section 3 of the paper).

One forward pass over a batch of uint8 clips:

1. the context clips go through g: h = g(c), ``(B, C, H, W)``;
2. all target frames of the batch, plus (with the rotation task) one rotated copy of each, go
   through f as ONE batch: z = f(x), ``(B*M [+ B*M], C, H, W)``;
3. every context is scored against every target frame of the batch in one einsum
   (:func:`~skipclip.method.losses.score_all`): the diagonal blocks are the positives, the other
   videos' targets are the negatives (in-batch negatives, free of extra encoder passes);
4. loss terms: ranking (Eq. 1), contrastive (Eq. 2, or InfoNCE), rotation, and with far
   negatives a hinge against the same video's far frames; the auxiliary terms can be switched
   off (the paper's Table 2 rows).

Scores and loss terms are computed in fp32 outside autocast (:func:`~skipclip.method.losses.fp32`),
whatever precision the encoders run in.

g's map is brought to f's grid before scoring (:func:`to_frame_grid`): torchvision's video stems
(``r3d_18``, ``r2plus1d_18``) have no max-pool, so their maps have twice f's resolution. Average
pooling was chosen over a max-pool added to the stem: g stays exactly torchvision's network (its
exported weights give torchvision's features, and fine-tuning sees the full-resolution map), and
each pooled cell covers the image region of f's cell (2 x 2 cells -> 1 at 224 and 112 px).

Rotation is fed as separate rotated copies: the ranking sees unrotated frames, so its per-cell
alignment with the context map stays meaningful (a rotated target would compare the context's
top-left cell with the frame's bottom-left). See the README for the measured comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from skipclip.errors import InvalidInputError
from skipclip.method import losses
from skipclip.method.pretext_metrics import kendall_tau, pairwise_ranking_accuracy
from skipclip.method.rotation import rotate_batch
from skipclip.models import (
    ContextEncoder,
    FrameEncoder,
    RotationHead,
    inflate_2d_into_3d,
    place_on_single_taps,
)
from skipclip.models.memory_format import to_channels_last_
from skipclip.models.normalize import input_stats_of, normalize
from skipclip.utils.dist import gather_no_grad, gather_with_grad
from skipclip.utils.dist import rank as dist_rank

ROTATION_INPUTS = ("copies", "targets")
CONTRASTIVE = ("hinge", "infonce")
HEALTH = ("rank_acc", "kendall_tau", "pos_score", "neg_score", "pos_neg_gap")


def to_frame_grid(h: Tensor, size: tuple[int, int]) -> Tensor:
    """g's map ``(B, C, H, W)`` on f's grid ``size`` by adaptive average pooling (unchanged when
    the grids already match, as for ``r3d18_hara``, whose stem has the 2D ResNet's max-pool).

    Where f's grid divides g's (224 and 112 px crops: 14 -> 7, 4 -> 2) each output cell is the
    mean of the g cells covering the same image region; otherwise (48 px: 3 -> 2) the pooling
    windows overlap by a cell.
    """
    if tuple(h.shape[-2:]) == tuple(size):
        return h
    return F.adaptive_avg_pool2d(h, size)  # B x C x size


@dataclass
class StepScores:
    """The scores of one step, over the R rows (contexts) that count.

    Attributes:
        pos: ``(R, M)`` scores of each context's own targets, nearest first.
        neg: ``(R, P)`` scores against every target frame of the (gathered) batch.
        mask: ``(R, P)`` ``True`` where a frame is a valid negative of the row.
        rows: ``(B,)`` which rows of the batch count.
        zero: a zero that keeps the graph (and DDP's gradient hooks) when no row counts.
        far: ``(R, F)`` scores against the row's own far frames, or ``None``.
        far_ok: ``(R, F)`` ``True`` for a valid far frame, or ``None``.
    """

    pos: Tensor
    neg: Tensor
    mask: Tensor
    rows: Tensor
    zero: Tensor
    far: Tensor | None = None
    far_ok: Tensor | None = None


class SkipClipModel(nn.Module):
    """Rank future target frames against a context clip.

    Args:
        context_encoder: g, ``(B, 3, K, S, S) -> (B, C, H, W)``.
        frame_encoder: f, ``(N, 3*d, S, S) -> (N, C, H, W)``.
        rotation_head: 4-way head on f's map, or ``None`` to train without the rotation task.
        rank_margin: delta_rank of Eq. 1.
        rank_weight: factor on the ranking term (1: the paper's unweighted sum of terms).
        neg_margin: delta_neg of Eq. 2, also the far term's margin.
        negatives: include the terms with negatives (Eq. 2, and the far term when the batch holds
            far frames).
        neg_reduce: how Eq. 2 reduces the negatives: ``"mean"`` (the paper) or ``"hardest"``.
        rotation_input: ``"copies"``: the rotation head sees one rotated copy of each target
            frame and the ranking the unrotated frames (default); ``"targets"``: the targets
            themselves are rotated and the ranking scores the rotated frames (one f pass less).
        channels_last: keep weights and inputs channels-last (faster convolutions).
        far_reduce: how the far term reduces a row's far frames, ``"mean"`` or ``"hardest"``.
        contrastive: ``"hinge"`` (Eq. 2) or ``"infonce"`` (:func:`~skipclip.method.losses.info_nce_loss`
            over the other videos' frames and the far frames; no separate far term then).
        temperature: InfoNCE's temperature.

    Raises:
        ValueError: a negative margin, an unknown ``rotation_input``, reduction or ``contrastive``,
            or a non-positive temperature.
    """

    def __init__(self, context_encoder: nn.Module, frame_encoder: nn.Module, rotation_head: nn.Module | None = None,
                 *, rank_margin: float = 0.1, neg_margin: float = 0.1, negatives: bool = True,
                 rotation_input: str = "copies", channels_last: bool = True, neg_reduce: str = "mean",
                 far_reduce: str = "mean", contrastive: str = "hinge", temperature: float = 0.1,
                 rank_weight: float = 1.0):
        super().__init__()
        if rank_margin < 0 or neg_margin < 0:
            raise InvalidInputError(f"margins must be >= 0, got rank {rank_margin}, neg {neg_margin}")
        if rotation_input not in ROTATION_INPUTS:
            raise InvalidInputError(f"rotation_input must be 'copies' or 'targets', got {rotation_input!r}")
        for name, value in (("neg_reduce", neg_reduce), ("far_reduce", far_reduce)):
            if value not in losses.NEG_REDUCTIONS:
                raise InvalidInputError(f"{name} must be one of {losses.NEG_REDUCTIONS}, got {value!r}")
        if contrastive not in CONTRASTIVE:
            raise InvalidInputError(f"contrastive must be one of {CONTRASTIVE}, got {contrastive!r}")
        if not temperature > 0:
            raise InvalidInputError(f"temperature must be > 0, got {temperature!r}")
        if not rank_weight > 0:
            raise InvalidInputError(f"rank_weight must be > 0, got {rank_weight!r}")
        self.context_encoder = context_encoder
        self.frame_encoder = frame_encoder
        self.rotation_head = rotation_head
        self.rank_margin, self.neg_margin, self.rank_weight = rank_margin, neg_margin, rank_weight
        self.negatives = negatives
        self.neg_reduce, self.far_reduce = neg_reduce, far_reduce
        self.contrastive, self.temperature = contrastive, temperature
        self.rotation_input = rotation_input
        self.channels_last = channels_last
        if channels_last:
            to_channels_last_(self)  # once; else every convolution reorders its weight per call

    def forward(self, batch: dict) -> tuple[dict, dict]:
        """All loss terms ``{"rank", "contrastive"?, "far"?, "rotation"?}`` and the pretext health
        metrics of one batch, over the rows that count (see :meth:`scores`); ``metrics["videos"]``
        is their number. The rotation task runs in training mode only."""
        rotation = self.rotation_head is not None and self.training
        enc = self.encode(batch, rotation)  # h = g(context); z = f(targets [, rotated copies, far frames])
        with losses.fp32(enc["h"].device):  # scores and hinges in fp32, whatever the autocast
            s = self.step_scores(enc, batch)  # Eq. 3 for the rows that count
            rank = losses.ranking_loss(s.pos, self.rank_margin) if len(s.pos) else s.zero  # Eq. 1
            terms = {"rank": rank * self.rank_weight if self.rank_weight != 1 else rank}
            terms.update(self.negative_terms(s))  # Eq. 2 (or InfoNCE) and the far term
        if rotation:
            terms["rotation"] = losses.rotation_loss(enc["rot_logits"], enc["rot_labels"])
        return terms, self.health(s, enc, rotation)

    def encode(self, batch: dict, rotation: bool) -> dict:
        """Run both encoders on a batch of uint8 clips.

        Returns a dict with ``h`` ``(B, C, H, W)`` on f's grid, ``z`` ``(B*M, C, H, W)``,
        ``num_targets``, with far frames in the batch ``z_far`` ``(B, F, C, H, W)``, and, when
        ``rotation``, ``rot_logits`` ``(B*M, 4)`` and ``rot_labels`` ``(B*M,)``.
        """
        targets = batch["targets"]  # B x M x d x 3 x S x S, uint8
        b, m = targets.shape[:2]
        frames = targets.flatten(0, 1).flatten(1, 2)  # B*M x 3d x S x S, uint8 (a view)
        copies = rotation and self.rotation_input == "copies"
        if rotation:  # rotate the uint8 frames: a quarter of the bytes of float ones
            rot_labels = torch.randint(0, 4, (b * m,), device=frames.device)
            rotated = rotate_batch(frames, rot_labels)  # B*M x 3d x S x S
            frames = torch.cat([frames, rotated]) if copies else rotated  # (2)B*M x 3d x S x S
        n_rank = frames.shape[0]  # (2)B*M frames for ranking and rotation
        far = batch.get("far")  # B x F x d x 3 x S x S, uint8: same-video negatives, never rotated
        if far is not None:
            frames = torch.cat([frames, far.flatten(0, 1).flatten(1, 2)])  # (2)B*M + B*F x 3d x S x S
        fmt2d, fmt3d = ((torch.channels_last, torch.channels_last_3d) if self.channels_last
                        else (torch.contiguous_format, torch.contiguous_format))
        context = normalize(batch["context"], 1, fmt3d, stats=input_stats_of(self.context_encoder))  # B x 3 x K x S x S
        frames = normalize(frames, 1, fmt2d, stats=input_stats_of(self.frame_encoder))  # (2)B*M [+ B*F] x 3d x S x S
        z_all = self.frame_encoder(frames)  # (2)B*M [+ B*F] x C x H x W
        h = to_frame_grid(self.context_encoder(context), z_all.shape[-2:])  # B x C x H x W
        out = {"h": h, "z": z_all[: b * m], "num_targets": m}
        if far is not None:
            out["z_far"] = z_all[n_rank:].unflatten(0, (b, far.shape[1]))  # B x F x C x H x W
        if rotation:
            out["rot_logits"] = self.rotation_head(z_all[b * m : n_rank] if copies else z_all[:n_rank])  # B*M x 4
            out["rot_labels"] = rot_labels
        return out

    def scores(self, h: Tensor, z: Tensor, m: int, videos: Tensor | None = None, pad: Tensor | None = None,
               groups: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """Positive scores ``(B, M)``, negative scores ``(B, P)``, the negatives' mask ``(B, P)``
        and the rows that count ``(B,)`` (``None`` without ``videos``: all of them).

        Negatives are the target frames of every other video, gathered across processes (with
        gradients) under distributed training, so the pool grows with the world size. With the
        samples' ``videos`` ids ``(B,)`` and ``pad`` flags ``(B,)``: a video met earlier in the
        global batch (a failed video's replacement, a padded validation repeat) and every padded
        item are left out of the pool and their rows do not count, and no row takes frames of
        its own video as negatives. With ``groups`` ``(B,)`` (a recording's id, see
        :class:`~skipclip.data.PretextDataset`), no row takes frames of its own group either.
        """
        b, dev = h.shape[0], h.device
        z_pool = gather_with_grad(z)  # W*B*M x C x H x W
        s = losses.score_all(h, z_pool)  # B x W*B*M, fp32
        own = dist_rank() * b + torch.arange(b, device=dev)  # this rank's rows in the pool
        s_videos = s.view(b, -1, m)  # B x W*B x M
        pos = s_videos[torch.arange(b, device=dev), own]  # B x M
        mask = torch.ones(s_videos.shape[:2], dtype=torch.bool, device=dev)  # B x W*B
        mask[torch.arange(b, device=dev), own] = False
        counts = None  # without video ids every row counts
        if videos is not None:
            counts = self._pool_mask_by_video(mask, own, videos.to(dev), pad)
        if groups is not None:
            pool_groups = gather_no_grad(groups.to(dev))  # W*B
            mask &= pool_groups[own][:, None] != pool_groups[None, :]  # B x W*B
        mask = mask[:, :, None].expand(-1, -1, m).reshape(b, -1)  # B x W*B*M
        return pos, s, mask, counts

    @staticmethod
    def _pool_mask_by_video(mask: Tensor, own: Tensor, videos: Tensor, pad: Tensor | None) -> Tensor:
        """Leave repeated videos and padded items out of the pool and each row's own video out of
        its negatives (``mask`` ``(B, W*B)``, in place); returns the rows that count ``(B,)``."""
        pool_videos = gather_no_grad(videos)  # W*B
        pool_pad = (gather_no_grad(pad.to(videos.device).bool()) if pad is not None
                    else torch.zeros_like(pool_videos, dtype=torch.bool))  # W*B
        same = pool_videos[:, None] == pool_videos[None, :]  # W*B x W*B
        repeat = (same & torch.ones_like(same).tril(-1)).any(1)  # W*B: met earlier in the batch
        pool_ok = ~pool_pad & ~repeat  # W*B
        mask &= pool_ok[None, :] & ~same[own]  # B x W*B
        return pool_ok[own]  # B

    def step_scores(self, enc: dict, batch: dict) -> StepScores:
        """The scores of the rows that count: positives, in-batch negatives and far frames."""
        pos, neg, mask, counts = self.scores(enc["h"], enc["z"], enc["num_targets"], batch.get("video"),
                                             batch.get("pad"), batch.get("group"))
        rows = counts if counts is not None else torch.ones(len(pos), dtype=torch.bool, device=pos.device)
        s = StepScores(pos[rows], neg[rows], mask[rows], rows, zero=pos.sum() * 0)  # R x M, R x P, R x P
        if "z_far" in enc:  # the same video's far stretches: negatives of their own context only
            far = losses.score(enc["h"], enc["z_far"])  # B x F, fp32
            ok = batch.get("far_valid")
            ok = torch.ones_like(far, dtype=torch.bool) if ok is None else ok.to(far.device).bool()
            s.far, s.far_ok = far[rows], ok[rows]  # R x F
        return s

    def negative_terms(self, s: StepScores) -> dict:
        """The terms with negatives: ``contrastive`` (Eq. 2 over the other videos' frames, or
        InfoNCE over those and the far frames) and, for the hinge, ``far`` (each target against its
        own video's far frames; 0 when no row has one, so every process logs the same terms)."""
        if not self.negatives:
            return {}
        neg, mask = s.neg, s.mask
        infonce = self.contrastive == "infonce"
        if infonce and s.far is not None:  # far frames join the softmax's negatives
            neg, mask = torch.cat([neg, s.far], 1), torch.cat([mask, s.far_ok], 1)  # R x (P + F)
        terms = {}
        ok = mask.any(1)  # R: rows with at least one negative (a lone video has none)
        if bool(ok.any()):
            terms["contrastive"] = (losses.info_nce_loss(s.pos[ok], neg[ok], self.temperature, mask=mask[ok])
                                    if infonce else
                                    losses.contrastive_loss(s.pos[ok], neg[ok], self.neg_margin, mask=mask[ok],
                                                            reduce=self.neg_reduce))
        if not infonce and s.far is not None:
            far_rows = s.far_ok.any(1)  # R: rows whose video had frames beyond the window
            terms["far"] = (losses.far_loss(s.pos[far_rows], s.far[far_rows], self.neg_margin,
                                            mask=s.far_ok[far_rows], reduce=self.far_reduce)
                            if bool(far_rows.any()) else s.zero)
        return terms

    @torch.no_grad()
    def health(self, s: StepScores, enc: dict, rotation: bool) -> dict:
        """Pretext health of the step: ranking accuracy, Kendall's tau, mean positive and negative
        scores and their gap, the gap to the far frames, rotation accuracy, and ``videos``."""
        if len(s.pos):
            neg_mean = (s.neg * s.mask).sum(1) / s.mask.sum(1).clamp_min(1)  # R
            metrics = {"rank_acc": pairwise_ranking_accuracy(s.pos), "kendall_tau": kendall_tau(s.pos),
                       "pos_score": s.pos.mean(), "neg_score": neg_mean.mean(),
                       "pos_neg_gap": s.pos.mean() - neg_mean.mean()}
            if s.far is not None and bool(s.far_ok.any()):  # the gap to the same video's far stretches
                metrics["far_gap"] = s.pos.mean() - s.far[s.far_ok].mean()
        else:
            metrics = {k: s.zero.detach() for k in HEALTH}
        if rotation:
            metrics["rot_acc"] = (enc["rot_logits"].argmax(1) == enc["rot_labels"]).float().mean()
        metrics["videos"] = s.rows.sum()
        return metrics


def build_skipclip(cfg) -> SkipClipModel:
    """Encoders and heads from a :class:`~skipclip.config.Config`, handed to :class:`SkipClipModel`.

    With ``model.init_context_from_frame`` g starts from f's initial weights, inflated into 3D
    (:func:`~skipclip.models.inflate_2d_into_3d`; with ``model.init_context_taps: single`` each kernel on
    one temporal tap, :func:`~skipclip.models.place_on_single_taps`); otherwise both start from their own random
    initialisation (the paper). Far negatives come in the batch (``far``, data/sampling/pretext.py).
    """

    p, m = cfg.pretext, cfg.model
    g = ContextEncoder(m.context_arch, m.width, m.shortcut, last_stride=m.last_stride)
    f = FrameEncoder(m.width, in_channels=3 * p.target_length, last_stride=m.last_stride)
    if m.init_context_from_frame:
        inflate_2d_into_3d(f.state_dict(), g)
        if m.init_context_taps == "single":
            place_on_single_taps(g, p.context_frames)
    head = RotationHead(f.out_channels) if p.rotation else None
    return SkipClipModel(g, f, head, rank_margin=p.rank_margin, neg_margin=p.neg_margin, negatives=p.negatives,
                         rotation_input=p.rotation_input, channels_last=cfg.trainer.channels_last,
                         neg_reduce=p.neg_reduce, far_reduce=p.far_reduce, contrastive=p.contrastive,
                         temperature=p.temperature, rank_weight=p.rank_weight)
