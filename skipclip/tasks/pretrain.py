"""Skip-Clip pretraining as a LightningModule (section 3 of the paper).

The module receives its encoders; it builds no data set. One training step:

1. the context clips go through g: h = g(c), ``(B, C, H, W)``;
2. all target frames of the batch, plus (with the rotation task) one rotated copy of each, go
   through f as ONE batch: z = f(x), ``(B*M [+ B*M], C, H, W)``;
3. every context is scored against every target frame of the batch in one einsum
   (:func:`skipclip.losses.score_all`): the diagonal blocks are the positives, the other
   videos' targets are the negatives (in-batch negatives, free of extra encoder passes);
4. loss = ranking (Eq. 1) + contrastive (Eq. 2) + rotation, unweighted; the auxiliary terms can
   be switched off (the paper's Table 2 rows).

Rotation is fed as separate rotated copies: the ranking sees unrotated frames, so its per-cell
alignment with the context map stays meaningful (a rotated target would compare the context's
top-left cell with the frame's bottom-left). See the README for the measured comparison.
"""

from __future__ import annotations

import functools

import lightning as L
import torch
import torch.nn as nn

from .. import losses
from ..eval.pretext_metrics import kendall_tau, pairwise_ranking_accuracy
from ..utils.dist import any_rank, gather_with_grad, rank as dist_rank


def rotate_batch(frames: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate each ``(N, C, H, W)`` frame by ``k[n] * 90`` degrees counter-clockwise (square frames).

    One ``gather`` of each frame's pixels through a table of the four rotations' pixel orders:
    no boolean masks, so no data-dependent shapes and no host sync on a GPU.
    Equals ``torch.rot90(frames[n], k[n], dims=(-2, -1))`` for every ``n``.

    Raises:
        ValueError: the frames are not ``(N, C, H, W)`` with ``H == W``, or ``k`` is not ``(N,)``.
    """
    if frames.dim() != 4 or frames.shape[-1] != frames.shape[-2] or k.shape != frames.shape[:1]:
        raise ValueError(f"rotate_batch needs square (N, C, H, W) frames and (N,) quarter turns, "
                         f"got {tuple(frames.shape)} and {tuple(k.shape)}")
    n, c, s = frames.shape[:3]
    cells = torch.arange(s * s, device=frames.device).view(s, s)  # S x S, source pixel of each pixel
    orders = torch.stack([cells.rot90(q, dims=(0, 1)).flatten() for q in range(4)])  # 4 x S*S
    index = orders[k].unsqueeze(1).expand(n, c, s * s)  # N x C x S*S
    return frames.reshape(n, c, s * s).gather(2, index).view(n, c, s, s)  # N x C x S x S


def _normalize(clip: torch.Tensor, channel_dim: int, memory_format: torch.memory_format) -> torch.Tensor:
    """:func:`normalize` in one pass, written straight in ``memory_format``.

    ``x * (1 / (255 std)) - mean / std``; the channel axis may hold ``d`` RGB frames (``3 * d``
    channels), the statistics repeating per frame. Under autocast the result is written in the
    autocast dtype (computed in fp32, rounded once): the encoders' first convolution would cast
    it to that dtype anyway, so this saves a pass and the fp32 copy.
    """
    shift, scale = _normalize_affine(clip.shape[channel_dim], clip.dim(), channel_dim, clip.device)
    kind = clip.device.type
    dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else torch.float32
    out = torch.empty(clip.shape, device=clip.device, dtype=dtype, memory_format=memory_format)
    return torch.addcmul(shift, clip, scale, out=out)  # same shape, float32


@functools.lru_cache(maxsize=32)
def _normalize_affine(channels: int, ndim: int, channel_dim: int, device: torch.device):
    """``(-mean / std, 1 / (255 std))`` shaped to broadcast; cached, so a GPU step makes no
    host-to-device copy (a pageable copy would wait for the work already queued)."""
    from ..data.transforms import MEAN, STD

    shape = [1] * ndim
    shape[channel_dim] = channels
    mean = torch.tensor(MEAN, dtype=torch.float64).repeat(channels // 3).view(shape)
    std = torch.tensor(STD, dtype=torch.float64).repeat(channels // 3).view(shape)
    return (-mean / std).float().to(device), (1.0 / (255.0 * std)).float().to(device)


def fused_adam() -> dict:
    """``fused=True`` where torch has a fused Adam for every device (2.4+): one kernel for all
    parameters instead of a Python loop (measured 3% of a CPU step, far more under contention)."""
    major, minor = (int(x) for x in torch.__version__.split(".")[:2])
    return {"fused": True} if (major, minor) >= (2, 4) else {}


class SkipClip(L.LightningModule):
    """Skip-Clip: rank future target frames against a context clip.

    Args:
        context_encoder: g, ``(B, 3, K, S, S) -> (B, C, H, W)``.
        frame_encoder: f, ``(N, 3*d, S, S) -> (N, C, H, W)``.
        rotation_head: 4-way head on f's map, or ``None`` to train without the rotation task.
        rank_margin: delta_rank of Eq. 1.
        neg_margin: delta_neg of Eq. 2.
        negatives: include the contrastive term (Eq. 2) with in-batch negatives.
        lr, weight_decay, lr_step_epochs, lr_gamma: Adam and its step schedule.
        channels_last: feed the encoders channels-last tensors (faster convolutions).
        on_nonfinite: ``"stop"`` raises on a non-finite loss, ``"skip"`` skips the batch.
        rotation_input: ``"copies"``: the rotation head sees one rotated copy of each target
            frame and the ranking the unrotated frames (default); ``"targets"``: the targets
            themselves are rotated and the ranking scores the rotated frames (one f pass less).
        config: the resolved run configuration, saved in checkpoints.
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
        lr: float = 3e-4,
        weight_decay: float = 1e-7,
        lr_step_epochs: int = 200,
        lr_gamma: float = 0.1,
        channels_last: bool = True,
        on_nonfinite: str = "stop",
        rotation_input: str = "copies",
        config: dict | None = None,
    ):
        super().__init__()
        if rank_margin < 0 or neg_margin < 0:
            raise ValueError(f"margins must be >= 0, got rank {rank_margin}, neg {neg_margin}")
        self.context_encoder = context_encoder
        self.frame_encoder = frame_encoder
        self.rotation_head = rotation_head
        self.rank_margin = rank_margin
        self.neg_margin = neg_margin
        self.negatives = negatives
        self.lr, self.weight_decay = lr, weight_decay
        self.lr_step_epochs, self.lr_gamma = lr_step_epochs, lr_gamma
        self.channels_last = channels_last
        self.on_nonfinite = on_nonfinite
        if rotation_input not in ("copies", "targets"):
            raise ValueError(f"rotation_input must be 'copies' or 'targets', got {rotation_input!r}")
        self.rotation_input = rotation_input
        self.save_hyperparameters({"config": config or {}})
        self.skipped_nonfinite = 0

    # ------------------------------------------------------------------ building
    @classmethod
    def from_config(cls, cfg) -> "SkipClip":
        """Build encoders and heads from a :class:`skipclip.config.Config`."""
        from ..models import ContextEncoder, FrameEncoder, RotationHead

        g = ContextEncoder(cfg.model.context_arch, cfg.model.width)
        f = FrameEncoder(cfg.model.width, in_channels=3 * cfg.pretext.target_length)
        head = RotationHead(f.out_channels) if cfg.pretext.rotation else None
        p, o = cfg.pretext, cfg.optim
        return cls(
            g, f, head, rank_margin=p.rank_margin, neg_margin=p.neg_margin, negatives=p.negatives,
            lr=o.lr, weight_decay=o.weight_decay, lr_step_epochs=o.lr_step_epochs, lr_gamma=o.lr_gamma,
            channels_last=cfg.trainer.channels_last, on_nonfinite=cfg.trainer.on_nonfinite,
            rotation_input=p.rotation_input,
            config=cfg.to_dict(),
        )

    # ------------------------------------------------------------------ forward
    def encode(self, batch: dict, rotation: bool) -> dict:
        """Run both encoders on a batch of uint8 clips.

        Returns a dict with ``h`` ``(B, C, H, W)``, ``z`` ``(B*M, C, H, W)`` and, when
        ``rotation``, ``rot_logits`` ``(B*M, 4)`` and ``rot_labels`` ``(B*M,)``.
        """
        targets = batch["targets"]  # B x M x d x 3 x S x S, uint8
        b, m, d = targets.shape[:3]
        frames = targets.flatten(0, 1).flatten(1, 2)  # B*M x 3d x S x S, uint8 (a view)
        copies = rotation and self.rotation_input == "copies"
        if rotation:  # rotate the uint8 frames: a quarter of the bytes of float ones
            rot_labels = torch.randint(0, 4, (b * m,), device=frames.device)
            rotated = rotate_batch(frames, rot_labels)  # B*M x 3d x S x S
            frames = torch.cat([frames, rotated]) if copies else rotated  # (2)B*M x 3d x S x S
        if self.channels_last and not getattr(self, "_weights_channels_last", False):
            from ..models.memory_format import to_channels_last_

            to_channels_last_(self)  # once; else every convolution reorders its weight per call
            self._weights_channels_last = True
        fmt2d, fmt3d = ((torch.channels_last, torch.channels_last_3d) if self.channels_last
                        else (torch.contiguous_format, torch.contiguous_format))
        context = _normalize(batch["context"], 1, fmt3d)  # B x 3 x K x S x S, float
        frames = _normalize(frames, 1, fmt2d)  # (2)B*M x 3d x S x S, float
        h = self.context_encoder(context)  # B x C x H x W
        z_all = self.frame_encoder(frames)  # (2)B*M x C x H x W
        out = {"h": h, "z": z_all[: b * m], "num_targets": m}
        if rotation:
            out["rot_logits"] = self.rotation_head(z_all[b * m :] if copies else z_all)  # B*M x 4
            out["rot_labels"] = rot_labels
        return out

    def scores(self, h: torch.Tensor, z: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Positive scores ``(B, M)``, negative scores ``(B, P)`` and the negatives' mask ``(B, P)``.

        Negatives are the target frames of every other video, gathered across processes (with
        gradients) under distributed training, so the pool grows with the world size.
        """
        b = h.shape[0]
        z_pool = gather_with_grad(z)  # W*B*M x C x H x W
        s = losses.score_all(h, z_pool)  # B x W*B*M
        own = dist_rank() * b + torch.arange(b, device=h.device)  # this rank's rows in the pool
        s_videos = s.view(b, -1, m)  # B x W*B x M
        pos = s_videos[torch.arange(b, device=h.device), own]  # B x M
        mask = torch.ones_like(s_videos, dtype=torch.bool)
        mask[torch.arange(b, device=h.device), own] = False
        return pos, s, mask.view(b, -1)

    def compute_losses(self, batch: dict) -> tuple[dict, dict]:
        """All loss terms and the pretext health metrics of one batch."""
        rotation = self.rotation_head is not None and self.training
        enc = self.encode(batch, rotation)
        pos, neg, mask = self.scores(enc["h"], enc["z"], enc["num_targets"])
        terms = {"rank": losses.ranking_loss(pos, self.rank_margin)}
        if self.negatives and neg.shape[1] > enc["num_targets"]:  # a lone video has no negatives
            terms["contrastive"] = losses.contrastive_loss(pos, neg, self.neg_margin, mask=mask)
        if rotation:
            terms["rotation"] = losses.rotation_loss(enc["rot_logits"], enc["rot_labels"])
        with torch.no_grad():
            neg_mean = (neg * mask).sum(1) / mask.sum(1).clamp_min(1)
            metrics = {
                "rank_acc": pairwise_ranking_accuracy(pos),
                "kendall_tau": kendall_tau(pos),
                "pos_score": pos.mean(),
                "neg_score": neg_mean.mean(),
                "pos_neg_gap": pos.mean() - neg_mean.mean(),
            }
            if rotation:
                metrics["rot_acc"] = (enc["rot_logits"].argmax(1) == enc["rot_labels"]).float().mean()
        return terms, metrics

    # ------------------------------------------------------------------ Lightning hooks
    def training_step(self, batch: dict, batch_idx: int):
        terms, metrics = self.compute_losses(batch)
        loss = sum(terms.values())
        bad = [name for name, value in terms.items() if not torch.isfinite(value)]
        if any_rank(bool(bad), loss.device):  # every process stops, or skips, together
            bad = bad or ["another process's"]
            message = (
                f"non-finite {', '.join(bad)} loss at step {self.global_step} "
                f"(epoch {self.current_epoch}, batch {batch_idx}): "
                + ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
            )
            if self.on_nonfinite == "stop":
                raise FloatingPointError(message + "; lower the learning rate, or pass "
                                         "--on-nonfinite skip to skip such batches")
            self.skipped_nonfinite += 1
            self.print(f"skipping batch: {message}")
            return None
        b = batch["context"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=b, sync_dist=True)  # the global batch's loss
        for name, value in terms.items():
            self.log(f"train/{name}", value, batch_size=b)
        for name, value in metrics.items():
            self.log(f"train/{name}", value, prog_bar=name == "rank_acc", batch_size=b)
        if "skipped" in batch:
            self.log("train/skipped_videos", batch["skipped"].sum().float(), reduce_fx="sum", batch_size=b)
        return loss

    def validation_step(self, batch: dict, batch_idx: int):
        terms, metrics = self.compute_losses(batch)
        b = batch["context"].shape[0]
        for name, value in terms.items():
            self.log(f"val/{name}", value, batch_size=b, sync_dist=True)
        for name, value in metrics.items():
            self.log(f"val/{name}", value, batch_size=b, prog_bar=name in ("rank_acc", "pos_neg_gap"),
                     sync_dist=True)

    def on_before_optimizer_step(self, optimizer):
        norms = [p.grad.detach().norm() for p in self.parameters() if p.grad is not None]
        if norms:
            self.log("train/grad_norm", torch.stack(norms).norm())

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay, **fused_adam())
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=self.lr_step_epochs, gamma=self.lr_gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
