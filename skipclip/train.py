"""Pretraining: build data, model and Lightning's Trainer from a config, fit, summarise."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .config import Config
from .data.build import pretrain_sources
from .data.pretext import PretextDataset
from .data.sampler import PretextWindow
from .runs import finish_run, prepare_run_dir

log = logging.getLogger(__name__)


def pretext_window(cfg: Config) -> PretextWindow:
    p = cfg.pretext
    return PretextWindow(p.context_frames, p.num_targets, p.sampling_rate, p.target_length)


def pretext_datasets(cfg: Config, data: str) -> tuple[PretextDataset, PretextDataset | None]:
    train_src, val_src = pretrain_sources(data, cfg)
    w, d, p = pretext_window(cfg), cfg.data, cfg.pretext
    short = None if data == "synthetic" else d.short_side
    train = PretextDataset(train_src, w, d.crop_size, short, p.reverse_prob, p.flip_prob,
                           seed=cfg.trainer.seed, train=True)
    val = None
    if val_src is not None and len(val_src) > 0:
        val = PretextDataset(val_src, w, d.crop_size, short, seed=cfg.trainer.seed, train=False)
    return train, val


def make_loader(dataset, cfg: Config, shuffle: bool, drop_last: bool):
    """A loader with a resumable, rank-sharded :class:`~skipclip.data.epoch_sampler.EpochSampler`."""
    from .data.epoch_sampler import epoch_loader

    return epoch_loader(dataset, cfg.data.batch_size, shuffle=shuffle, drop_last=drop_last,
                        seed=cfg.trainer.seed, num_workers=cfg.data.num_workers)


def pretrain(cfg: Config, data: str, out: str | Path, *, resume: bool = False, force: bool = False,
             progress: bool = True, callbacks: list | None = None, max_minutes: float | None = None,
             checkpoint_every: int | None = 50):
    """Pretrain Skip-Clip; returns ``(module, trainer, summary)``.

    One process or many (Lightning's DDP, launched by ``torchrun``, SLURM's ``srun`` or Lightning
    itself for ``devices > 1``): the negatives are gathered across processes, each video is seen
    once per epoch across them, and each process's random streams are seeded from (seed, rank).

    Args:
        cfg: validated configuration.
        data: ``synthetic``, a prepared store or a folder of videos.
        out: run folder (config, checkpoints, logs).
        resume: continue exactly from ``out/checkpoints/last.ckpt`` (model, optimiser, schedule,
            random streams, sampler position), even after a kill mid-epoch.
        force: overwrite a run already in ``out``.
        progress: show Lightning's progress bar.
        callbacks: extra Lightning callbacks.
        max_minutes: stop after this wall time (checkpoints are still written).
        checkpoint_every: optimiser steps between mid-epoch ``last.ckpt`` writes (0: epoch ends only).

    Raises:
        ValueError: ``resume`` and ``force`` together, or a resume with an incompatible config.
        FileExistsError: ``out`` holds a run and neither ``resume`` nor ``force`` was given.
    """
    import os
    import warnings

    import lightning as L
    import torch
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from .tasks.pretrain import SkipClip
    from .utils.checkpoint import fit_kit

    out = prepare_run_dir(Path(out), cfg, resume=resume, force=force, kind="pretrain")
    if cfg.trainer.deterministic:  # deterministic cuBLAS (torch raises without it on GPU)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)  # same initial weights on every rank
    train_ds, val_ds = pretext_datasets(cfg, data)
    model = SkipClip.from_config(cfg)
    train_loader = make_loader(train_ds, cfg, shuffle=True, drop_last=True)
    val_loader = make_loader(val_ds, cfg, shuffle=False, drop_last=False) if val_ds is not None else None
    t = cfg.trainer
    kit = fit_kit(out, train_loader, keep=t.checkpoint_keep, every_n_steps=checkpoint_every, seed=t.seed,
                  resume=resume)
    trainer = L.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        precision=t.precision,
        max_epochs=cfg.optim.max_epochs,
        max_time={"minutes": max_minutes} if max_minutes else None,
        deterministic=t.deterministic,
        log_every_n_steps=t.log_every_n_steps,
        limit_train_batches=t.limit_train_batches,
        logger=CSVLogger(out, name="logs", version=""),
        callbacks=[*kit.callbacks, *(callbacks or []),
                   *([TQDMProgressBar(refresh_rate=10)] if progress else [])],  # rich's bar costs 4x here
        plugins=kit.plugins,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # the EpochSampler shards by rank and can resume mid-epoch
        # one set of batch statistics over the global batch, as in one process (GPU only: torch's
        # SyncBatchNorm has no CPU kernel, so CPU/gloo runs normalise per process)
        sync_batchnorm=t.accelerator != "cpu" and torch.cuda.is_available(),
    )
    start = time.time()
    with warnings.catch_warnings():  # the sampler is resumable, though not a stateful loader
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
        trainer.fit(model, train_loader, val_loader, ckpt_path=kit.ckpt_path)
    last = out / "checkpoints" / "last.ckpt"
    summary = {
        "wall_s": time.time() - start,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "world_size": trainer.world_size,
        "resumed_from": kit.ckpt_path,
        "train_videos": len(train_ds),
        "too_short_videos": len(train_ds.too_short),
        "failed_videos": dict(train_ds.failed),
        "skipped_videos": kit.position.total_skipped_videos,
        "skipped_nonfinite_batches": model.skipped_nonfinite,
        "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
        "last_checkpoint": str(last),
    }
    if trainer.is_global_zero:
        finish_run(out, summary=summary)
    return model, trainer, summary
