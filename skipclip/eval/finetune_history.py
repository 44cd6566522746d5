"""How one fine-tuning went and which weights it kept: :class:`FinetuneHistory`, and the
selection (``finetune.selection``) that loads the kept weights back into the classifier."""

from __future__ import annotations

from dataclasses import dataclass

from skipclip.config.budget import Budget, BudgetUsed
from skipclip.engine.callbacks import KeepBest
from skipclip.engine.fit import FitOutcome
from skipclip.eval.classifier import ActionClassifier
from skipclip.utils.records import record


@dataclass(frozen=True, kw_only=True)
class FinetuneHistory:
    """How one fine-tuning went, and which weights it kept (``report.json``'s ``history``; all but
    ``val_curve`` also go into ``best.ckpt`` as its ``selection``).

    Attributes:
        epochs: epochs trained (the trainer's epoch count at the end).
        steps: optimiser steps trained.
        wall_s: wall time of the fit.
        budget: what the run used of its budget, and what stopped it.
        best_epoch: epoch of the kept weights.
        best_step: optimiser step of the kept weights.
        val_top1: validation video top-1 of the kept weights (``None``: not validated there).
        val_curve: every validation as ``(epoch, step, video top-1)``.
        batch_per_process: clips per process and step.
        selected_by: how the kept weights were chosen, in words.
        too_short_train_videos: training videos shorter than one clip (left out).
        world_size: processes that trained.
        failed_videos: ``{video: reason}`` for every training or validation video that could not be read.
        global_zero: whether this process is the first (the one that tests and writes).
        resumed_from: the checkpoint the run continued from (``None``: a fresh start).
    """

    epochs: int
    steps: int
    wall_s: float
    budget: BudgetUsed
    best_epoch: int | None
    best_step: int | None
    val_top1: float | None
    val_curve: list[tuple[int, int, float]]
    batch_per_process: int
    selected_by: str
    too_short_train_videos: int
    world_size: int
    failed_videos: dict[str, str]
    global_zero: bool
    resumed_from: str | None

    def to_dict(self) -> dict:
        return record(self)


def restore_selected(
    selection: str,
    keep: KeepBest,
    model: ActionClassifier,
    done: FitOutcome,
    budget: Budget,
    batch: int,
    too_short: int,
    failed: dict[str, str],
    ckpt_path: str | None,
) -> FinetuneHistory:
    """Load the selected weights back into ``model`` (``finetune.selection: best`` with a
    validation; otherwise the last weights stay) and say how the run went."""
    trainer, wall = done.trainer, done.wall_s
    val_top1: float | None
    if selection == "best" and keep.best is not None:
        keep.restore(model)
        selected_by, epoch, step, val_top1 = "best validation video top-1", keep.best_epoch, keep.best_step, keep.best
    else:
        last_val = keep.history[-1][-1] if keep.history and keep.history[-1][1] == trainer.global_step else None
        why = "finetune.selection: last" if selection == "last" else "no validation split"
        selected_by, epoch, step, val_top1 = f"last ({why})", trainer.current_epoch - 1, trainer.global_step, last_val
    return FinetuneHistory(
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        wall_s=wall,
        budget=budget.used(trainer, wall),
        best_epoch=epoch,
        best_step=step,
        val_top1=val_top1,
        val_curve=keep.history,
        batch_per_process=batch,
        selected_by=selected_by,
        too_short_train_videos=too_short,
        world_size=trainer.world_size,
        failed_videos=failed,
        global_zero=trainer.is_global_zero,
        resumed_from=ckpt_path,
    )
