"""A thin LightningModule around :class:`~skipclip.method.model.SkipClipModel`: it logs the loss
terms and pretext health, and leaves optimiser, schedule and the non-finite policy to
:class:`~skipclip.engine.module.TrainModule`."""

from __future__ import annotations

from skipclip.batch import PretextBatch
from skipclip.config import Config
from skipclip.data import DeferredBatch, decode_batch
from skipclip.engine.module import TrainModule
from skipclip.method.build import build_skipclip
from skipclip.method.model import SkipClipModel


class SkipClipModule(TrainModule):
    """Skip-Clip pretraining: the loss is the unweighted sum of the model's terms.

    Args:
        model: the Skip-Clip model (its encoders are checkpointed as ``model.context_encoder.*``
            and ``model.frame_encoder.*``).
        config: the resolved run configuration, saved in checkpoints.
        **optim: see :class:`~skipclip.engine.module.TrainModule`.
    """

    def __init__(self, model: SkipClipModel, *, config: dict | None = None, **optim):
        super().__init__(**optim)
        self.model = model
        self.save_hyperparameters({"config": config or {}})
        # (K, M, d) when the loaders leave frames JPEG for this device to decode
        self.jpeg_window: tuple[int, int, int] | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> SkipClipModule:
        o = cfg.optim
        return cls(
            build_skipclip(cfg),
            lr=o.lr,
            weight_decay=o.weight_decay,
            lr_step_epochs=o.lr_step_epochs,
            lr_gamma=o.lr_gamma,
            on_nonfinite=cfg.trainer.on_nonfinite,
            config=cfg.to_dict(),
        )

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        """Frames the loader left JPEG (a :class:`~skipclip.data.DeferredBatch`: a GPU run on a JPEG
        store, ``jpeg_window`` set) are decoded here, on the training device, in one batched call
        (:func:`~skipclip.data.decode_batch`), into the :class:`~skipclip.batch.PretextBatch` of the CPU path."""
        if self.jpeg_window is not None and isinstance(batch, DeferredBatch):
            return decode_batch(batch, self.device, *self.jpeg_window)
        return batch

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        """A batch for the CPU stays as the loader made it: Lightning's generic move walks and
        copies the batch's fields (1.7 ms of a ``cpu-real`` step) to move nothing."""
        if device.type == "cpu" and isinstance(batch, PretextBatch):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def training_step(self, batch: PretextBatch, batch_idx: int):
        terms, metrics = self.model(batch)
        if self.nonfinite(terms, batch_idx):
            return None
        loss = sum(terms.values())
        b = int(metrics.pop("videos"))  # the videos that counted (a repeated video does not)
        self.log("train/loss", loss, prog_bar=True, batch_size=b, sync_dist=True)  # the global batch's loss
        for name, value in terms.items():
            self.log(f"train/{name}", value, batch_size=b)
        for name, value in metrics.items():
            self.log(f"train/{name}", value, prog_bar=name == "rank_acc", batch_size=b)
        if batch.skipped is not None:
            self.log("train/skipped_videos", batch.skipped.sum().float(), reduce_fx="sum", batch_size=b)
        return loss

    def validation_step(self, batch: PretextBatch, batch_idx: int):
        terms, metrics = self.model(batch)
        # padded repeats and repeated videos count for nothing: each term is the mean over the
        # videos that count, weighted by their number (0 for an all-padding batch)
        b = int(metrics.pop("videos"))
        for name, value in terms.items():
            self.log(f"val/{name}", value, batch_size=b, sync_dist=True)
        for name, value in metrics.items():
            self.log(f"val/{name}", value, batch_size=b, prog_bar=name in ("rank_acc", "pos_neg_gap"), sync_dist=True)
