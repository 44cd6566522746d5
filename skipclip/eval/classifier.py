"""Action recognition with the context encoder g: g + global average pooling + a linear layer
(section 4.2 of the paper). Used for fine-tuning, the supervised baseline and linear probing
(``freeze_encoder``)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from skipclip.engine.module import TrainModule
from skipclip.eval.video_level import video_accuracy
from skipclip.models import ClassifierHead
from skipclip.models.normalize import normalize


class ActionClassifier(TrainModule):
    """Clip classifier on top of a context encoder.

    Args:
        encoder: a :class:`~skipclip.models.ContextEncoder`.
        num_classes: action classes.
        lr, weight_decay: Adam.
        lr_step_epochs, lr_gamma, lr_last_step_epoch: the lr is multiplied by ``lr_gamma`` every
            ``lr_step_epochs`` epochs up to ``lr_last_step_epoch`` (paper: 0.5 every 15 up to 60).
        freeze_encoder: train the linear layer only (linear probe).
        dropout: before the linear layer.
        input_stats: ``"kinetics"`` (default) or ``"imagenet"``: the statistics clips are
            standardised with (ImageNet's for g inflated from ImageNet weights, as those expect).
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_classes: int,
        *,
        lr: float = 5e-4,
        weight_decay: float = 1e-2,
        lr_step_epochs: int = 15,
        lr_gamma: float = 0.5,
        lr_last_step_epoch: int = 60,
        freeze_encoder: bool = False,
        dropout: float = 0.0,
        config: dict | None = None,
        input_stats: str = "kinetics",
    ):
        super().__init__(
            lr=lr,
            weight_decay=weight_decay,
            lr_step_epochs=lr_step_epochs,
            lr_gamma=lr_gamma,
            lr_last_step_epoch=lr_last_step_epoch,
        )
        self.encoder = encoder
        self.head = ClassifierHead(encoder.out_channels, num_classes, dropout=dropout)
        self.num_classes = num_classes
        self.freeze_encoder = freeze_encoder
        self.input_stats = input_stats
        if freeze_encoder:
            self.encoder.requires_grad_(False)
        self.save_hyperparameters(
            {
                "config": config or {},
                "num_classes": num_classes,
                "freeze_encoder": freeze_encoder,
                "input_stats": input_stats,
            }
        )

    def forward(self, clip_uint8: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of uint8 clips ``(B, 3, T, S, S)``."""
        x = normalize(clip_uint8, channel_dim=1, stats=self.input_stats)  # B x 3 x T x S x S
        if x.is_cuda:  # channels-last 3D convolutions are faster on GPUs, slower and erratic on CPUs
            x = x.contiguous(memory_format=torch.channels_last_3d)
        if self.freeze_encoder:
            self.encoder.eval()
            with torch.no_grad():
                h = self.encoder(x)
        else:
            h = self.encoder(x)  # B x C x H x W
        return self.head(h)

    def training_step(self, batch, batch_idx):
        logits = self(batch["clip"])
        loss = F.cross_entropy(logits, batch["label"])
        acc = (logits.argmax(1) == batch["label"]).float().mean()
        b = len(batch["label"])
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        self.log("train/acc", acc, prog_bar=True, batch_size=b)
        self.nonfinite({"classification": loss}, batch_idx)  # raises: fine-tuning runs on_nonfinite="stop"
        return loss

    def on_validation_epoch_start(self):
        self._val_outputs: list[tuple[torch.Tensor, ...]] = []

    def validation_step(self, batch, batch_idx):
        # blank windows of unreadable videos and DDP's padded repeats (ok=False) are not scored;
        # they are kept until the gather, so every process contributes the same count
        ok = batch.get("ok", torch.ones(len(batch["label"]), dtype=torch.bool, device=batch["label"].device))
        logits = self(batch["clip"])
        if bool(ok.any()):
            b = int(ok.sum())
            self.log("val/loss", F.cross_entropy(logits[ok], batch["label"][ok]), batch_size=b, sync_dist=True)
            self.log(
                "val/acc",
                (logits[ok].argmax(1) == batch["label"][ok]).float().mean(),
                prog_bar=True,
                batch_size=b,
                sync_dist=True,
            )
        self._val_outputs.append(
            (
                torch.softmax(logits.float(), 1).cpu(),
                batch["video"].cpu(),
                batch["label"].cpu(),
                ok.to(torch.uint8).cpu(),
            )
        )  # uint8: gathers on every backend

    def on_validation_epoch_end(self):
        """Video accuracy on the validation split: softmax averaged over each video's windows
        (the paper's test protocol), the quantity model selection maximises. Under DDP every
        process's windows are gathered first (the sampler gives each the same count by repeating
        a few windows, marked ``ok=False``), then the windows that are not ``ok`` are dropped, so
        every window counts once and all processes select the same epoch."""

        if not getattr(self, "_val_outputs", None):
            return
        probs, videos, labels, ok = (torch.cat(t) for t in zip(*self._val_outputs))
        if self.trainer.world_size > 1:
            probs, videos, labels, ok = (
                self.all_gather(t.to(self.device)).flatten(0, 1).cpu() for t in (probs, videos, labels, ok)
            )  # W*N x ...
        ok = ok.bool()
        probs, videos, labels = probs[ok].numpy(), videos[ok].numpy(), labels[ok].numpy()
        self._val_outputs = []
        if len(videos) == 0:
            return
        self.log("val/video_acc", video_accuracy(probs, videos, labels), prog_bar=True)
