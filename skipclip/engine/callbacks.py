"""Callbacks of the fine-tuning loop: model selection on the validation split, and per-epoch clip
draws."""

from __future__ import annotations

import lightning as L
import torch.nn as nn


class KeepBest(L.Callback):
    """Keep, in memory, the weights of the validation with the best ``monitor`` (model selection on
    the validation split). After ``fit``, :meth:`restore` loads them back; without any validation the
    last weights stay. Validations may come at epoch ends or every N steps (a step budget): each is
    recorded with its epoch and optimiser step, and ``best_step`` says which weights were kept.

    Args:
        monitor: a logged metric, higher is better (``val/video_acc``); ties go to the later
            validation, which has trained longer.
    """

    def __init__(self, monitor: str = "val/video_acc"):
        self.monitor = monitor
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_step: int | None = None
        self.best_state: dict | None = None
        self.history: list[tuple[int, int, float]] = []  # (epoch, step, value)

    def on_validation_end(self, trainer, pl_module):
        # not on_validation_epoch_end: Lightning calls callbacks' before the module's, which logs the metric
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.history.append((trainer.current_epoch, trainer.global_step, value))
        if self.best is None or value >= self.best:
            self.best, self.best_epoch, self.best_step = value, trainer.current_epoch, trainer.global_step
            self.best_state = {k: v.detach().clone().cpu() for k, v in pl_module.state_dict().items()}

    def restore(self, module: nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


class SetEpoch(L.Callback):
    """Tell a dataset with ``set_epoch`` the epoch before its loader is iterated, so every epoch
    draws new random clips, reproducibly."""

    def __init__(self, dataset):
        self.dataset = dataset

    def on_train_epoch_start(self, trainer, pl_module):
        self.dataset.set_epoch(trainer.current_epoch)
