"""The one fit path: pretraining and fine-tuning both train through :func:`fit`, which builds the
Trainer (:func:`~skipclip.engine.trainer.make_trainer`), says what it is about to do, and runs
Lightning's ``fit`` with the run's resumable samplers and weights-only checkpoint loading."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L

from skipclip.config import Config
from skipclip.engine.attempts import checkpoint_position
from skipclip.engine.plan import RunPlan
from skipclip.engine.trainer import make_trainer


@dataclass
class FitOutcome:
    """What :func:`fit` leaves behind.

    Attributes:
        trainer: the Lightning trainer (steps, epochs, metrics, ``is_global_zero``).
        wall_s: seconds spent inside ``trainer.fit``.
    """

    trainer: L.Trainer
    wall_s: float


def fit(
    cfg: Config,
    module: L.LightningModule,
    train_loader,
    val_loader=None,
    *,
    plan: RunPlan,
    what: str,
    out: str | Path | None = None,
    callbacks: list | None = None,
    plugins: list | None = None,
    ckpt_path: str | None = None,
    progress: bool = False,
    loggers: Sequence[str] = ("csv",),
    enable_checkpointing: bool = True,
    precision: str | None = None,
) -> FitOutcome:
    """Train ``module`` on ``train_loader`` (validating on ``val_loader``) as ``plan`` says.

    Args:
        cfg: the run's configuration (``cfg.trainer``: devices, precision, logging cadence).
        module: the LightningModule, put in train mode first: Lightning keeps each submodule's
            mode as it finds it, and an encoder handed over in eval mode would train with its
            BatchNorm frozen (measured: fine-tuning top-1 0.10-0.26 instead of 0.43).
        train_loader, val_loader: loaders with resumable, rank-sharded samplers
            (:func:`~skipclip.data.epoch_loader`), so Lightning adds no sampler of its own.
        plan: the run's :class:`~skipclip.engine.plan.RunPlan`: devices, processes and budget
            (steps or epochs, validation cadence, wall-time cap), worked out at its start.
        what: how the progress line names the job ("pretraining", "fine-tuning on").
        out: the run folder for logs and checkpoints (``None``: neither).
        callbacks, plugins: Lightning callbacks and plugins (checkpointing, resume position, ...).
        ckpt_path: a checkpoint to resume from (read with ``weights_only=True``).
        progress: progress on stderr and the opening line.
        loggers: see :mod:`skipclip.engine.loggers`.
        enable_checkpointing: let the ``ModelCheckpoint`` callbacks in ``callbacks`` write.
        precision: default ``cfg.trainer.precision`` (``auto`` resolved by the caller).
    """
    budget = plan.budget
    trainer = make_trainer(
        cfg,
        out=out,
        callbacks=callbacks,
        plugins=plugins,
        progress=progress,
        devices=plan.devices,
        num_nodes=plan.num_nodes,
        processes=plan.processes,
        enable_checkpointing=enable_checkpointing,
        resumable_sampler=True,
        loggers=loggers,
        precision=precision,
        **budget.trainer_kwargs(),
        resume_step=checkpoint_position(ckpt_path)[0] if ckpt_path else None,
    )
    if progress and trainer.is_global_zero:
        steps = len(train_loader)
        print(
            f"{what} {len(train_loader.dataset)} videos, {steps} step{'' if steps == 1 else 's'} an epoch: "
            f"{budget.describe()}",
            flush=True,
        )
    start = time.time()
    module.train()
    with warnings.catch_warnings():  # the sampler is resumable, though not a stateful loader
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
        trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
    return FitOutcome(trainer, time.time() - start)


__all__ = ["FitOutcome", "fit"]
