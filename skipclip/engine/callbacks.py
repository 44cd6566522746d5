"""Callbacks of the fine-tuning loop: model selection on the validation split, and the names of
unreadable videos gathered from the batches."""

from __future__ import annotations

import lightning as L
import torch.nn as nn

from skipclip.batch import from_batch
from skipclip.utils.io import atomic_torch_save


class KeepBest(L.Callback):
    """Keep, in memory, the weights of the validation with the best ``monitor`` (model selection on
    the validation split). After ``fit``, :meth:`restore` loads them back; without any validation the
    last weights stay. Validations may come at epoch ends or every N steps (a step budget): each is
    recorded with its epoch and optimiser step, and ``best_step`` says which weights were kept.

    Its state (best value, epoch and weights) is saved in the run's checkpoints, so a resumed
    fine-tune selects among all its epochs, those before the interruption included.

    Args:
        monitor: a logged metric, higher is better (``val/video_acc``); ties go to the later
            validation, which has trained longer.
        save_to: also write the best weights there (atomically) each time they improve.
    """

    def __init__(self, monitor: str = "val/video_acc", save_to=None):
        self.monitor = monitor
        self.save_to = save_to
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_step: int | None = None
        self.best_state: dict | None = None
        self.history: list[tuple[int, int, float]] = []  # (epoch, step, value)

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_step": self.best_step,
            "best_state": self.best_state,
            "history": [list(h) for h in self.history],
        }

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.best_state = state["best"], state["best_epoch"], state["best_state"]
        self.best_step = state.get("best_step")
        self.history = [
            (int(h[0]), int(h[1]), float(h[-1])) if len(h) == 3 else (int(h[0]), -1, float(h[-1]))
            for h in state["history"]
        ]

    def on_validation_end(self, trainer, pl_module):
        # not on_validation_epoch_end: Lightning calls callbacks' before the module's, which logs the metric
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.history.append((trainer.current_epoch, trainer.global_step, value))
        if self.best is None or value >= self.best:
            self.best, self.best_epoch, self.best_step = value, trainer.current_epoch, trainer.global_step
            self.best_state = {k: v.detach().clone().cpu() for k, v in pl_module.state_dict().items()}
            if self.save_to is not None and trainer.is_global_zero:
                atomic_torch_save(
                    {
                        "state_dict": self.best_state,
                        "hyper_parameters": dict(pl_module.hparams),
                        "selection": {"best_epoch": self.best_epoch, "val_top1": self.best},
                    },
                    self.save_to,
                )

    def restore(self, module: nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


class CollectFailures(L.Callback):
    """The unreadable videos the loaders passed over (named in each batch, so they arrive from
    any number of loader workers), gathered in the main process: ``failed`` (name -> reason)."""

    def __init__(self):
        self.failed: dict[str, str] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.failed.update(from_batch(batch))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.failed.update(from_batch(batch))
