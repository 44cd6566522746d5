"""Skip-Clip as a plain ``nn.Module`` that receives its encoders (section 3 of the paper).

One forward pass over a batch of uint8 clips:

1. the context clips go through g: h = g(c), ``(B, C, H, W)``;
2. all target frames of the batch, plus (with the rotation task) one rotated copy of each, go
   through f as ONE batch: z = f(x), ``(B*M [+ B*M], C, H, W)``;
3. every context is scored against every target frame of the batch in one einsum
   (:func:`~skipclip.method.losses.score_all`): the diagonal blocks are the positives, the other
   videos' targets are the negatives (in-batch negatives, free of extra encoder passes);
4. loss terms: ranking (Eq. 1), contrastive (Eq. 2), rotation; the auxiliary terms can be
   switched off (the paper's Table 2 rows).

Rotation is fed as separate rotated copies: the ranking sees unrotated frames, so its per-cell
alignment with the context map stays meaningful (a rotated target would compare the context's
top-left cell with the frame's bottom-left). See the README for the measured comparison.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from skipclip.errors import InvalidInputError
from skipclip.method import losses
from skipclip.method.pretext_metrics import kendall_tau, pairwise_ranking_accuracy
from skipclip.method.rotation import rotate_batch
from skipclip.models import ContextEncoder, FrameEncoder, RotationHead
from skipclip.models.memory_format import to_channels_last_
from skipclip.models.normalize import normalize
from skipclip.utils.dist import gather_no_grad, gather_with_grad
from skipclip.utils.dist import rank as dist_rank

ROTATION_INPUTS = ("copies", "targets")


class SkipClipModel(nn.Module):
    """Rank future target frames against a context clip.

    Args:
        context_encoder: g, ``(B, 3, K, S, S) -> (B, C, H, W)``.
        frame_encoder: f, ``(N, 3*d, S, S) -> (N, C, H, W)``.
        rotation_head: 4-way head on f's map, or ``None`` to train without the rotation task.
        rank_margin: delta_rank of Eq. 1.
        neg_margin: delta_neg of Eq. 2.
        negatives: include the contrastive term (Eq. 2) with in-batch negatives.
        neg_reduce: how Eq. 2 reduces the negatives: ``"mean"`` (the paper) or ``"hardest"``.
        rotation_input: ``"copies"``: the rotation head sees one rotated copy of each target
            frame and the ranking the unrotated frames (default); ``"targets"``: the targets
            themselves are rotated and the ranking scores the rotated frames (one f pass less).
        channels_last: keep weights and inputs channels-last (faster convolutions).

    Raises:
        ValueError: a negative margin or an unknown ``rotation_input``.
    """

    def __init__(self, context_encoder: nn.Module, frame_encoder: nn.Module, rotation_head: nn.Module | None = None,
                 *, rank_margin: float = 0.1, neg_margin: float = 0.1, negatives: bool = True,
                 rotation_input: str = "copies", channels_last: bool = True, neg_reduce: str = "mean"):
        super().__init__()
        if rank_margin < 0 or neg_margin < 0:
            raise InvalidInputError(f"margins must be >= 0, got rank {rank_margin}, neg {neg_margin}")
        if rotation_input not in ROTATION_INPUTS:
            raise InvalidInputError(f"rotation_input must be 'copies' or 'targets', got {rotation_input!r}")
        self.context_encoder = context_encoder
        self.frame_encoder = frame_encoder
        self.rotation_head = rotation_head
        self.rank_margin, self.neg_margin = rank_margin, neg_margin
        self.negatives = negatives
        if neg_reduce not in losses.NEG_REDUCTIONS:
            raise InvalidInputError(f"neg_reduce must be one of {losses.NEG_REDUCTIONS}, got {neg_reduce!r}")
        self.neg_reduce = neg_reduce
        self.rotation_input = rotation_input
        self.channels_last = channels_last
        if channels_last:
            to_channels_last_(self)  # once; else every convolution reorders its weight per call

    def encode(self, batch: dict, rotation: bool) -> dict:
        """Run both encoders on a batch of uint8 clips.

        Returns a dict with ``h`` ``(B, C, H, W)``, ``z`` ``(B*M, C, H, W)`` and, when
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
        context = normalize(batch["context"], 1, fmt3d)  # B x 3 x K x S x S, float
        frames = normalize(frames, 1, fmt2d)  # (2)B*M [+ B*F] x 3d x S x S, float
        h = self.context_encoder(context)  # B x C x H x W
        z_all = self.frame_encoder(frames)  # (2)B*M [+ B*F] x C x H x W
        out = {"h": h, "z": z_all[: b * m], "num_targets": m}
        if far is not None:
            out["z_far"] = z_all[n_rank:].unflatten(0, (b, far.shape[1]))  # B x F x C x H x W
        if rotation:
            out["rot_logits"] = self.rotation_head(z_all[b * m : n_rank] if copies else z_all[:n_rank])  # B*M x 4
            out["rot_labels"] = rot_labels
        return out

    def scores(self, h: torch.Tensor, z: torch.Tensor, m: int, videos: torch.Tensor | None = None,
               pad: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Positive scores ``(B, M)``, negative scores ``(B, P)``, the negatives' mask ``(B, P)``
        and the rows that count ``(B,)`` (``None`` without ``videos``: all of them).

        Negatives are the target frames of every other video, gathered across processes (with
        gradients) under distributed training, so the pool grows with the world size. With the
        samples' ``videos`` ids ``(B,)`` and ``pad`` flags ``(B,)``: a video met earlier in the
        global batch (a failed video's replacement, a padded validation repeat) and every padded
        item are left out of the pool and their rows do not count, and no row takes frames of
        its own video as negatives.
        """
        b, dev = h.shape[0], h.device
        z_pool = gather_with_grad(z)  # W*B*M x C x H x W
        s = losses.score_all(h, z_pool)  # B x W*B*M
        own = dist_rank() * b + torch.arange(b, device=dev)  # this rank's rows in the pool
        s_videos = s.view(b, -1, m)  # B x W*B x M
        pos = s_videos[torch.arange(b, device=dev), own]  # B x M
        mask = torch.ones(s_videos.shape[:2], dtype=torch.bool, device=dev)  # B x W*B
        mask[torch.arange(b, device=dev), own] = False
        counts = None  # without video ids every row counts
        if videos is not None:
            pool_videos = gather_no_grad(videos.to(dev))  # W*B
            pool_pad = (gather_no_grad(pad.to(dev).bool()) if pad is not None
                        else torch.zeros_like(pool_videos, dtype=torch.bool))  # W*B
            same = pool_videos[:, None] == pool_videos[None, :]  # W*B x W*B
            repeat = (same & torch.ones_like(same).tril(-1)).any(1)  # W*B: met earlier in the batch
            pool_ok = ~pool_pad & ~repeat  # W*B
            counts = pool_ok[own]  # B
            mask &= pool_ok[None, :] & ~same[own]  # B x W*B
        mask = mask[:, :, None].expand(-1, -1, m).reshape(b, -1)  # B x W*B*M
        return pos, s, mask, counts

    def forward(self, batch: dict) -> tuple[dict, dict]:
        """All loss terms ``{"rank", "contrastive"?, "rotation"?}`` and the pretext health metrics
        of one batch, over the rows that count (see :meth:`scores`); ``metrics["videos"]`` is
        their number. The rotation task runs in training mode only."""
        rotation = self.rotation_head is not None and self.training
        enc = self.encode(batch, rotation)
        pos_all, neg_all, mask_all, counts = self.scores(enc["h"], enc["z"], enc["num_targets"],
                                                         batch.get("video"), batch.get("pad"))
        zero = pos_all.sum() * 0  # keeps the graph (and DDP's gradient hooks) when no row counts
        rows = counts if counts is not None else torch.ones(len(pos_all), dtype=torch.bool, device=zero.device)
        pos, neg, mask = pos_all[rows], neg_all[rows], mask_all[rows]  # R x M, R x P, R x P
        neg_c, mask_c = neg, mask  # the contrastive term's negatives: other videos' frames ...
        far = None
        if "z_far" in enc:  # ... and the same video's far stretches
            far = losses.score(enc["h"], enc["z_far"])[rows]  # R x F
            far_ok = batch["far_valid"].to(far.device).bool()[rows]  # R x F
            neg_c, mask_c = torch.cat([neg, far], 1), torch.cat([mask, far_ok], 1)  # R x (P + F)
        terms = {"rank": losses.ranking_loss(pos, self.rank_margin) if len(pos) else zero}
        with_neg = mask_c.any(1)  # R: rows with at least one negative (a lone video has none)
        if self.negatives and bool(with_neg.any()):
            terms["contrastive"] = losses.contrastive_loss(pos[with_neg], neg_c[with_neg], self.neg_margin,
                                                           mask=mask_c[with_neg], reduce=self.neg_reduce)
        if rotation:
            terms["rotation"] = losses.rotation_loss(enc["rot_logits"], enc["rot_labels"])
        with torch.no_grad():
            if len(pos):
                neg_mean = (neg * mask).sum(1) / mask.sum(1).clamp_min(1)
                metrics = {
                    "rank_acc": pairwise_ranking_accuracy(pos),
                    "kendall_tau": kendall_tau(pos),
                    "pos_score": pos.mean(),
                    "neg_score": neg_mean.mean(),
                    "pos_neg_gap": pos.mean() - neg_mean.mean(),
                }
                if far is not None and bool(far_ok.any()):  # the gap to the same video's far stretches
                    metrics["far_gap"] = pos.mean() - far[far_ok].mean()
            else:
                metrics = {k: zero.detach() for k in ("rank_acc", "kendall_tau", "pos_score", "neg_score",
                                                      "pos_neg_gap")}
            if rotation:
                metrics["rot_acc"] = (enc["rot_logits"].argmax(1) == enc["rot_labels"]).float().mean()
            metrics["videos"] = rows.sum()
        return terms, metrics


def build_skipclip(cfg) -> SkipClipModel:
    """Encoders and heads from a :class:`~skipclip.config.Config`, handed to :class:`SkipClipModel`."""

    p = cfg.pretext
    g = ContextEncoder(cfg.model.context_arch, cfg.model.width, cfg.model.shortcut)
    f = FrameEncoder(cfg.model.width, in_channels=3 * p.target_length)
    head = RotationHead(f.out_channels) if p.rotation else None
    return SkipClipModel(g, f, head, rank_margin=p.rank_margin, neg_margin=p.neg_margin, negatives=p.negatives,
                         rotation_input=p.rotation_input, channels_last=cfg.trainer.channels_last,
                         neg_reduce=p.neg_reduce)  # far negatives come in the batch ("far", data/pretext.py)
