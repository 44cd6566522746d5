"""The one Trainer factory: every recipe gets its Lightning ``Trainer`` from :func:`make_trainer`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch

from skipclip.engine.loggers import FinishLoggers, make_loggers
from skipclip.engine.progress import progress_callback
from skipclip.engine.run_csv import FlushOnCheckpoint
from skipclip.errors import InvalidInputError
from skipclip.utils.dist import planned_world_size
from skipclip.utils.quiet import quiet_lightning

log = logging.getLogger(__name__)
_warned_cpu = False


def device_of(cfg) -> str:
    """``"cuda"`` where the config allows a GPU and one is present, else ``"cpu"``."""

    return "cuda" if cfg.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class ProcessPlan:
    """How many processes a run will have and what follows from it.

    Attributes:
        world_size: processes over all nodes (:func:`~skipclip.utils.dist.planned_world_size`).
        strategy: ``"ddp"`` with more than one process, else ``"auto"``.
        sync_batchnorm: one set of batch statistics over the global batch, as in one process;
            GPU only (torch's SyncBatchNorm has no CPU kernel, so CPU/gloo runs normalise per process).
    """

    world_size: int
    strategy: str
    sync_batchnorm: bool


def process_plan(cfg, devices=None, num_nodes: int | None = None) -> ProcessPlan:
    """The processes a run will have, from ``cfg.trainer`` (or the caller's ``devices``/``num_nodes``):
    the one place that decides DDP and synchronised batch norm. ``devices: auto`` counts every
    visible GPU on a GPU accelerator (one process on CPU), a list counts its ids, and the count is
    per node; a launcher's ``WORLD_SIZE`` wins, except over one device on one node (library
    callers such as the demo and reproduce train in one process, as
    :func:`~skipclip.engine.plan.plan_run` counts them).

    Raises:
        ValueError: ``devices`` is not ``"auto"``, a count or a list.
    """
    t = cfg.trainer
    devices = t.devices if devices is None else devices
    num_nodes = t.num_nodes if num_nodes is None else num_nodes
    gpu = device_of(cfg) == "cuda"
    one = devices in (1, "1") and int(num_nodes) == 1
    world = 1 if one else planned_world_size(devices, num_nodes, gpu=gpu)
    return ProcessPlan(world, "ddp" if world > 1 else "auto", gpu and world > 1)


def warn_unused_gpu(cfg) -> None:
    """Say once per process when a CUDA GPU is present but ``trainer.accelerator: cpu`` keeps the
    run on the CPU (the ``cpu`` and ``cpu-real`` presets do, on purpose: their sizes are chosen
    for a CPU), and how to use the GPU instead."""
    global _warned_cpu
    if _warned_cpu or cfg.trainer.accelerator != "cpu" or not torch.cuda.is_available():
        return
    _warned_cpu = True
    log.warning(
        "a GPU is present but this run trains on the CPU (trainer.accelerator: cpu, as the cpu and "
        "cpu-real presets set); pass --accelerator gpu (or --set trainer.accelerator=gpu) to use it"
    )


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
        raise InvalidInputError(
            f"trainer.devices {list(devices)!r} names GPU ids, but this run trains on the CPU "
            f"(trainer.accelerator {cfg.trainer.accelerator}, CUDA available: "
            f"{torch.cuda.is_available()}); give a process count instead, e.g. --devices 1"
        )
    count = torch.cuda.device_count()
    absent = [d for d in devices if not 0 <= int(d) < count]
    if absent:
        raise InvalidInputError(
            f"trainer.devices {list(devices)!r} names GPU ids {absent} that this machine does not "
            f"have (it has {count}: ids 0..{count - 1})"
        )


def _lightning_precision(precision: str) -> str:
    return "32-true" if precision == "auto" else precision


def make_trainer(
    cfg,
    *,
    max_epochs: int,
    out: str | Path | None = None,
    callbacks: list | None = None,
    plugins: list | None = None,
    progress: bool = False,
    devices=None,
    num_nodes: int | None = None,
    check_val_every_n_epoch: int = 1,
    max_minutes: float | None = None,
    max_steps: int | None = None,
    val_every_steps: int | None = None,
    enable_checkpointing: bool = False,
    resumable_sampler: bool = False,
    loggers=("csv",),
    resume_step: int | None = None,
    processes: ProcessPlan | None = None,
    precision: str | None = None,
):
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
        progress: show progress on stderr: a tqdm bar on a terminal (Rich's costs 4x the step
            time on 2 cores), plain lines every 30 s or tenth of the run in a file
            (:mod:`skipclip.engine.progress`).
        devices, num_nodes: default ``cfg.trainer``'s; more than one process runs DDP.
        check_val_every_n_epoch: epochs between validations.
        max_minutes: stop after this wall time.
        enable_checkpointing: let Lightning's ``ModelCheckpoint`` callbacks (passed in
            ``callbacks``) write.
        resumable_sampler: the loaders bring their own rank-sharded, resumable sampler
            (:class:`~skipclip.data.sampling.epoch_sampler.EpochSampler`), so Lightning adds none.
        loggers: names from ``csv``, ``tensorboard``, ``wandb`` (see :mod:`skipclip.engine.loggers`).
        resume_step: the optimiser step a resumed run continues from (TensorBoard hides what an
            earlier attempt logged from there on: it is trained again).
        processes: the run's process plan, when its caller worked it out (``engine.plan.RunPlan``).
        precision: Lightning's precision (default ``cfg.trainer.precision``; ``auto`` is resolved
            by the caller, :mod:`skipclip.engine.precision`, and means fp32 here).

    Raises:
        ValueError: an unknown logger, or one whose package is missing.
    """

    quiet_lightning()  # no "GPU available" banners or tips, in every command and API call
    warn_unused_gpu(cfg)
    t = cfg.trainer
    devices = t.devices if devices is None else devices
    num_nodes = t.num_nodes if num_nodes is None else num_nodes
    logger = False
    if out is not None:
        logger = make_loggers(loggers, out, resume_step=resume_step)
        callbacks = [*(callbacks or []), FinishLoggers(), FlushOnCheckpoint()]
    plan = processes if processes is not None else process_plan(cfg, devices, num_nodes)
    return L.Trainer(
        accelerator="mps" if t.accelerator == "mps" else ("gpu" if device_of(cfg) == "cuda" else "cpu"),
        devices=devices,
        num_nodes=num_nodes,
        strategy=plan.strategy,
        precision=_lightning_precision(precision or t.precision),
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
        callbacks=[*(callbacks or []), *([progress_callback(refresh_rate=10)] if progress else [])],
        plugins=plugins or None,
        enable_checkpointing=enable_checkpointing,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=not resumable_sampler,
        sync_batchnorm=plan.sync_batchnorm,
    )
