"""Where a run's numbers and pictures go: Lightning's CSV, TensorBoard and Weights & Biases
loggers, and a callback that draws Figure 3 (per-cell similarity maps) of a few fixed validation
videos every few epochs.

``--logger csv`` (the default) writes ``RUN/logs/metrics.csv``; ``tensorboard`` writes event
files to ``RUN/logs/tensorboard/``; ``wandb`` writes ``RUN/logs/wandb/`` and syncs when a
``WANDB_API_KEY`` is set, offline otherwise (``wandb sync`` uploads it later). Every
``self.log`` of the modules reaches each logger as a scalar: the loss terms and the pretext
health (ranking accuracy, Kendall's tau, positive-negative gap).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from importlib.util import find_spec
from pathlib import Path

import lightning as L
import numpy as np

log = logging.getLogger(__name__)

LOGGERS = ("csv", "tensorboard", "wandb")
_EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}  # name: (module, extra)


def parse_loggers(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Logger names from ``--logger`` values (repeated, or comma-separated), in order, once each;
    ``("csv",)`` when none are given.

    Raises:
        ValueError: an unknown name, or a logger whose package is not installed (naming the extra).
    """
    if values is None:
        values = ["csv"]
    elif isinstance(values, str):
        values = [values]
    names: list[str] = []
    for value in values:
        for name in (v.strip().lower() for v in value.split(",")):
            if not name:
                continue
            if name not in LOGGERS:
                raise ValueError(f"unknown logger {name!r}; choose from {', '.join(LOGGERS)} "
                                 "(several: --logger csv,tensorboard)")
            if name in _EXTRAS and find_spec(_EXTRAS[name][0]) is None:
                raise ValueError(f"--logger {name} needs the {_EXTRAS[name][0]} package: "
                                 f"pip install \"skipclip[{_EXTRAS[name][1]}]\"")
            if name not in names:
                names.append(name)
    return tuple(names) or ("csv",)


def make_loggers(names: Sequence[str], out: str | Path) -> list:
    """Lightning loggers writing under ``out/logs``.

    Raises:
        ValueError: as :func:`parse_loggers`.
    """
    out = Path(out)
    loggers = []
    for name in parse_loggers(list(names)):
        if name == "csv":
            from lightning.pytorch.loggers import CSVLogger

            loggers.append(CSVLogger(out, name="logs", version=""))
        elif name == "tensorboard":
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(out, name="logs", version="tensorboard", default_hp_metric=False))
        else:
            from lightning.pytorch.loggers import WandbLogger

            offline = not os.environ.get("WANDB_API_KEY")
            (out / "logs").mkdir(parents=True, exist_ok=True)
            loggers.append(WandbLogger(save_dir=str(out / "logs"), project=os.environ.get("WANDB_PROJECT", "skipclip"),
                                       name=out.resolve().name, offline=offline))
    return loggers


class FinishLoggers(L.Callback):
    """Close a W&B run when ``fit`` ends, so a second run in the same process starts its own
    (Lightning's ``WandbLogger`` would otherwise attach to the first)."""

    def teardown(self, trainer, pl_module, stage):
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and getattr(logger, "_experiment", None) is not None:
                logger.experiment.finish()
                logger._experiment = None


def figure_pixels(fig) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 rendering of a matplotlib figure."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


class SimilarityMaps(L.Callback):
    """Every ``every_n_epochs`` epochs, Figure 3 of a few fixed videos: per-cell similarity maps
    of the model's g and f (:func:`skipclip.viz.similarity.similarity_maps`), drawn with
    :func:`skipclip.viz.similarity.draw`, written to ``out/figures/`` as PNGs and sent as images
    to the TensorBoard and W&B loggers of the trainer.

    Args:
        dataset: a :class:`~skipclip.data.pretext.PretextDataset` with ``train=False`` (the same
            centre-cropped window of a video every time), usually the validation split's.
        out: run folder.
        every_n_epochs: epochs between figures; 0 draws none.
        count: videos drawn (spread evenly over the data set).

    Raises:
        ValueError: ``every_n_epochs`` < 0 or ``count`` < 1.
    """

    def __init__(self, dataset, out: str | Path, every_n_epochs: int = 10, count: int = 3):
        if every_n_epochs < 0 or count < 1:
            raise ValueError(f"every_n_epochs must be >= 0 and count >= 1, got {every_n_epochs} and {count}")
        self.dataset, self.out, self.every, self.count = dataset, Path(out), every_n_epochs, count
        self.items = sorted(set(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int)))
        self.drawn: list[Path] = []

    def on_train_epoch_end(self, trainer, pl_module):
        epoch = trainer.current_epoch
        if not self.every or (epoch + 1) % self.every or not trainer.is_global_zero:
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            for i in self.items:
                self._draw(trainer, pl_module.model, int(i), epoch)
        finally:
            pl_module.train(was_training)

    def _draw(self, trainer, model, item: int, epoch: int) -> None:
        import matplotlib.pyplot as plt
        from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

        from skipclip.viz.bars import _save
        from skipclip.viz.similarity import draw, similarity_maps

        sample = self.dataset[item]
        context = sample["context"].permute(1, 2, 3, 0).numpy()  # K x S x S x 3
        targets = sample["targets"].permute(0, 1, 3, 4, 2).numpy()  # M x d x S x S x 3
        maps, scores = similarity_maps(model, context, targets)
        name = self.dataset.source.name(int(sample["video"]))
        fig = draw(context, targets, maps, scores, f"{name}, epoch {epoch}")
        tag = f"similarity/{item}"
        pixels = figure_pixels(fig)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(tag, pixels, global_step=trainer.global_step, dataformats="HWC")
            elif isinstance(logger, WandbLogger):
                logger.log_image(key=tag, images=[pixels], caption=[f"{name}, epoch {epoch}"])
        png = self.out / "figures" / f"similarity_epoch{epoch:04d}_{item}.png"
        _save(fig, png)  # closes the figure
        plt.close(fig)
        self.drawn.append(png)


__all__ = ["LOGGERS", "FinishLoggers", "SimilarityMaps", "figure_pixels", "make_loggers", "parse_loggers"]
