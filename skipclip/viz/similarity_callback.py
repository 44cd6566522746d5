"""A callback that draws Figure 3 (per-cell similarity maps) of a few fixed validation videos every
few epochs, to ``RUN/figures/`` and to the TensorBoard or Weights & Biases logger."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

from skipclip.errors import InvalidInputError
from skipclip.viz.similarity import similarity_maps
from skipclip.viz.similarity_figure import compose, save_png

MAX_SETS = 3  # most sets of figures of a run under a step budget


class SimilarityMaps(L.Callback):
    """Every ``every_n_epochs`` epochs, Figure 3 of a few fixed videos: per-cell similarity maps
    of the model's g and f (:func:`skipclip.viz.similarity.similarity_maps`), composed as an image
    with :func:`skipclip.viz.similarity_figure.compose`, written to ``out/figures/`` as PNGs and sent, the
    same pixels, to the TensorBoard and W&B loggers of the trainer.

    Args:
        dataset: a :class:`~skipclip.data.sampling.pretext.PretextDataset` with ``train=False`` (the same
            centre-cropped window of a video every time), usually the validation split's.
        out: run folder.
        every_n_epochs: epochs between figures, and under a step budget at least a
            :data:`MAX_SETS`-th of the steps; 0 draws none.
        count: videos drawn (spread evenly over the data set).

    Raises:
        ValueError: ``every_n_epochs`` < 0 or ``count`` < 1.
    """

    def __init__(self, dataset, out: str | Path, every_n_epochs: int = 10, count: int = 3):
        if every_n_epochs < 0 or count < 1:
            raise InvalidInputError(f"every_n_epochs must be >= 0 and count >= 1, got {every_n_epochs} and {count}")
        self.dataset, self.out, self.every, self.count = dataset, Path(out), every_n_epochs, count
        self.items = sorted(set(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int)))
        self.drawn: list[Path] = []
        self.last_step: int | None = None
        self.seconds, self.sets = 0.0, 0  # time spent drawing, sets drawn

    def on_train_epoch_end(self, trainer, pl_module):
        epoch = trainer.current_epoch
        if not self.every or (epoch + 1) % self.every or not trainer.is_global_zero:
            return
        # under a step budget an epoch may be two steps: at most MAX_SETS sets of figures a run
        # (a set of 3 figures took about 0.2 s at cpu-real's sizes, a training step or two)
        gap = trainer.max_steps // MAX_SETS if trainer.max_steps and trainer.max_steps > 0 else 0
        if self.last_step is not None and trainer.global_step - self.last_step < gap:
            return
        self.last_step = trainer.global_step
        was_training = pl_module.training
        pl_module.eval()
        start = time.perf_counter()
        try:
            for i in self.items:
                self._draw(trainer, pl_module.model, int(i), epoch)
        finally:
            pl_module.train(was_training)
            self.seconds += time.perf_counter() - start
            self.sets += 1

    # kept in the run's checkpoints: a resumed run keeps the cadence and counts the earlier sets
    def state_dict(self) -> dict:
        return {"seconds": self.seconds, "sets": self.sets, "last_step": self.last_step}

    def load_state_dict(self, state: dict) -> None:
        self.seconds, self.sets = float(state["seconds"]), int(state["sets"])
        self.last_step = None if state["last_step"] is None else int(state["last_step"])

    def _draw(self, trainer, model, item: int, epoch: int) -> None:
        sample = self.dataset[item]
        context = sample["context"].permute(1, 2, 3, 0).numpy()  # K x S x S x 3
        targets = sample["targets"].permute(0, 1, 3, 4, 2).numpy()  # M x d x S x S x 3
        maps, scores = similarity_maps(model, context, targets)
        name = self.dataset.source.name(int(sample["video"]))
        offsets_c, offsets_t = self.dataset.window.offsets()  # frames from the window's start: K - 1 + r * k
        pixels = compose(context, targets, maps, scores, f"{name}, epoch {epoch}", offsets_c, offsets_t[:, 0])
        tag = f"similarity/{item}"
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(tag, pixels, global_step=trainer.global_step, dataformats="HWC")
            elif isinstance(logger, WandbLogger):
                logger.log_image(key=tag, images=[pixels], caption=[f"{name}, epoch {epoch}"])
        png = self.out / "figures" / f"similarity_epoch{epoch:04d}_{item}.png"
        save_png(pixels, png)
        self.drawn.append(png)


__all__ = ["SimilarityMaps"]
