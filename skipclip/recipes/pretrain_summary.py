"""What a finished pretraining did: :class:`PretrainSummary`, ``run.json``'s ``summary`` record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from skipclip.config.budget import BudgetUsed
from skipclip.eval.precise_bn import RUNNING
from skipclip.eval.pretext_health import PretextHealth
from skipclip.utils.records import record


@dataclass(frozen=True, kw_only=True)
class PretrainSummary:
    """What a finished pretraining did: ``run.json``'s ``summary`` record (:meth:`to_dict`), with
    the run's pretext health beside it.

    Attributes:
        wall_s: training wall time of the whole run (every attempt's, to the checkpoint each resumed from).
        budget: what the run used of its budget, and what stopped it.
        epochs: epochs trained (the trainer's epoch count at the end).
        steps: optimiser steps trained.
        world_size: processes that trained.
        batch_per_process: videos per process and step.
        global_batch: videos per step over all processes.
        resumed_from: the checkpoint the run continued from (``None``: a fresh start).
        train_videos: training videos used.
        too_short_videos: training videos shorter than one window (left out).
        failed_videos: ``{video: reason}`` of every video that could not be listed or read.
        skipped_videos: reads the loaders passed over.
        skipped_nonfinite_batches: batches skipped for a non-finite loss (``trainer.on_nonfinite: skip``).
        metrics: the last logged values (``train/loss``, ``val/rank_acc``, ...).
        last_checkpoint: ``out/checkpoints/last.ckpt``.
        monitor_s: seconds of ``wall_s`` spent watching the run: the validation loops, the
            pretext-health and kNN measurements at them, and the last measurement at the end.
        validations: validation loops run.
        figures_s: seconds of ``wall_s`` spent drawing the Figure 3 similarity maps
            (``--log-images-every``), outside the validation loops; figure_sets: how many times.
        frame_cache: this attempt's decoded-frame cache of the training store
            (``data.frame_cache_mb``): ``{"hits", "misses", "frames", "bytes", "budget"}``;
            ``None`` without one, or where loader workers hold their own.
        precision: the precision trained in (``trainer.precision``, or what ``auto`` chose:
            :mod:`~skipclip.engine.precision`).
        bn_stats: which batch-norm statistics the final model and ``last.ckpt`` hold: recomputed
            on training windows (``precise``, :mod:`~skipclip.eval.precise_bn`) or ``running``.
        health: the pretext health at the end (``None``: not measured, or not the first process);
            ``run.json`` records it beside the summary, under ``health``.
        val_videos: videos held out of training for validation (the pretext health, the figures).
        test_videos: the data set's test split, never read by pretraining (kept for evaluation).
    """

    wall_s: float
    budget: BudgetUsed
    epochs: int
    steps: int
    world_size: int
    batch_per_process: int
    global_batch: int
    resumed_from: str | None
    train_videos: int
    too_short_videos: int
    failed_videos: dict[str, str]
    skipped_videos: int
    skipped_nonfinite_batches: int
    metrics: dict[str, float]
    last_checkpoint: str
    monitor_s: float = 0.0
    validations: int = 0
    figures_s: float = 0.0
    figure_sets: int = 0
    frame_cache: dict | None = None
    precision: str = "32-true"
    bn_stats: dict = dataclasses.field(default_factory=lambda: dict(RUNNING))
    val_videos: int = 0
    test_videos: int = 0
    health: PretextHealth | None = None

    def to_dict(self, with_health: bool = False) -> dict:
        """``run.json``'s ``summary`` record; ``with_health``: then ``health``, its record (``None``
        without one), as the Python API's ``PretrainResult.summary`` and the demo's report carry it."""
        return record(self) if with_health else record(self, exclude=("health",))


def summarise(trainer, budget, wall: float, batch: int, kit, train_ds, val_ds, module, out: Path) -> PretrainSummary:
    """What ``run.json`` records of a finished pretraining (its pretext health aside)."""
    return PretrainSummary(
        wall_s=wall,
        budget=budget.used(trainer, wall),
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        world_size=trainer.world_size,
        batch_per_process=batch,
        global_batch=batch * trainer.world_size,
        resumed_from=kit.ckpt_path,
        train_videos=len(train_ds),
        too_short_videos=len(train_ds.too_short),
        # found while listing (this process) and while reading (any loader worker, via the batches)
        failed_videos={
            **train_ds.failed,
            **(val_ds.failed if val_ds is not None else {}),
            **kit.position.failed_videos,
        },
        skipped_videos=kit.position.total_skipped_videos,
        skipped_nonfinite_batches=module.skipped_nonfinite,
        # pretext health and the online kNN are in run.json's health record, measured last
        metrics={k: float(v) for k, v in trainer.callback_metrics.items() if not k.startswith(("health/", "knn/"))},
        last_checkpoint=str(out / "checkpoints" / "last.ckpt"),
    )
