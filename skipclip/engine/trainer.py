"""The one Trainer factory: every recipe gets its Lightning ``Trainer`` from :func:`make_trainer`."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from skipclip.errors import InvalidInputError


def device_of(cfg) -> str:
    """``"cuda"`` where the config allows a GPU and one is present, else ``"cpu"``."""

    return "cuda" if cfg.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "cpu"


def check_devices(cfg) -> None:
    """Refuse, before a run folder is made, a device list this machine cannot give: GPU ids on a
    run that will train on the CPU, or ids past the GPUs present (Lightning would fail later).

    Raises:
        InvalidInputError: naming ``trainer.devices`` and what this machine has.
    """
    devices = cfg.trainer.devices
    if not isinstance(devices, (list, tuple)) or cfg.trainer.accelerator == "mps":
        return
    if device_of(cfg) != "cuda":
        raise InvalidInputError(f"trainer.devices {list(devices)!r} names GPU ids, but this run trains on the CPU "
                                f"(trainer.accelerator {cfg.trainer.accelerator}, CUDA available: "
                                f"{torch.cuda.is_available()}); give a process count instead, e.g. --devices 1")
    count = torch.cuda.device_count()
    absent = [d for d in devices if not 0 <= int(d) < count]
    if absent:
        raise InvalidInputError(f"trainer.devices {list(devices)!r} names GPU ids {absent} that this machine does not "
                                f"have (it has {count}: ids 0..{count - 1})")


def make_trainer(cfg, *, max_epochs: int, out: str | Path | None = None, callbacks: list | None = None,
                 plugins: list | None = None, progress: bool = False, devices=None, num_nodes: int | None = None,
                 check_val_every_n_epoch: int = 1, max_minutes: float | None = None,
                 max_steps: int | None = None, val_every_steps: int | None = None,
                 enable_checkpointing: bool = False, resumable_sampler: bool = False, loggers=("csv",)):
    """A Lightning ``Trainer`` configured from ``cfg.trainer``.

    Args:
        cfg: the run's configuration (accelerator, precision, determinism, logging cadence).
        max_epochs: epochs to train (-1: until ``max_steps``).
        max_steps: optimiser steps to train (``None``: ``max_epochs`` decides); see
            :mod:`~skipclip.config.budget`.
        val_every_steps: validate every this many training batches, across epoch boundaries
            (``None``: every ``check_val_every_n_epoch`` epochs).
        out: run folder for the logs (``out/logs/``); ``None``: no logger.
        callbacks, plugins: extra Lightning callbacks and plugins.
        progress: show a tqdm progress bar (Rich's costs 4x the step time on 2 cores).
        devices, num_nodes: default ``cfg.trainer``'s; more than one process runs DDP.
        check_val_every_n_epoch: epochs between validations.
        max_minutes: stop after this wall time.
        enable_checkpointing: let Lightning's ``ModelCheckpoint`` callbacks (passed in
            ``callbacks``) write.
        resumable_sampler: the loaders bring their own rank-sharded, resumable sampler
            (:class:`~skipclip.data.sampling.epoch_sampler.EpochSampler`), so Lightning adds none.
        loggers: names from ``csv``, ``tensorboard``, ``wandb`` (see :mod:`skipclip.engine.loggers`).

    Raises:
        ValueError: an unknown logger, or one whose package is missing.
    """

    t = cfg.trainer
    devices = t.devices if devices is None else devices
    num_nodes = t.num_nodes if num_nodes is None else num_nodes
    logger = False
    if out is not None:
        from skipclip.engine.loggers import FinishLoggers, make_loggers

        logger = make_loggers(loggers, out)
        callbacks = [*(callbacks or []), FinishLoggers()]
    several = devices not in (1, "1", "auto") or num_nodes > 1
    return L.Trainer(
        accelerator="mps" if t.accelerator == "mps" else ("gpu" if device_of(cfg) == "cuda" else "cpu"),
        devices=devices,
        num_nodes=num_nodes,
        strategy="ddp" if several else "auto",
        precision=t.precision,
        max_epochs=max_epochs,
        max_steps=max_steps if max_steps else -1,
        max_time={"minutes": max_minutes} if max_minutes else None,
        deterministic=t.deterministic,
        log_every_n_steps=t.log_every_n_steps,
        limit_train_batches=t.limit_train_batches if t.limit_train_batches != 1.0 else None,
        # every N steps: Lightning's val_check_interval counts batches across epochs only when
        # check_val_every_n_epoch is None
        check_val_every_n_epoch=None if val_every_steps else check_val_every_n_epoch,
        val_check_interval=val_every_steps or None,
        logger=logger,
        callbacks=[*(callbacks or []), *([TQDMProgressBar(refresh_rate=10)] if progress else [])],
        plugins=plugins or None,
        enable_checkpointing=enable_checkpointing,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=not resumable_sampler,
        # one set of batch statistics over the global batch, as in one process (GPU only: torch's
        # SyncBatchNorm has no CPU kernel, so CPU/gloo runs normalise per process)
        sync_batchnorm=device_of(cfg) == "cuda" and several,
    )
