"""Pretraining: build data, model and Lightning's Trainer from a config, fit, summarise."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

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


def epoch_setter(dataset):
    """A callback that tells the dataset the epoch before its loader is iterated, so each epoch
    draws new windows, reproducibly (workers are re-created every epoch and see it)."""
    import lightning as L

    class SetDatasetEpoch(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            dataset.set_epoch(trainer.current_epoch)

    return SetDatasetEpoch()


def make_loader(dataset, cfg: Config, shuffle: bool, drop_last: bool) -> DataLoader:
    workers = cfg.data.num_workers
    return DataLoader(
        dataset,
        batch_size=cfg.data.batch_size,
        shuffle=shuffle,
        drop_last=drop_last and len(dataset) >= cfg.data.batch_size,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,  # re-created each epoch, so they see set_epoch
    )


def pretrain(cfg: Config, data: str, out: str | Path, *, resume: bool = False, force: bool = False,
             progress: bool = True, callbacks: list | None = None, max_minutes: float | None = None):
    """Pretrain Skip-Clip; returns ``(module, trainer, summary)``.

    Args:
        cfg: validated configuration.
        data: ``synthetic``, a prepared store or a folder of videos.
        out: run folder (config, checkpoints, logs).
        resume: continue from ``out/checkpoints/last.ckpt``.
        force: overwrite a run already in ``out``.
        progress: show Lightning's progress bar.
        callbacks: extra Lightning callbacks.
        max_minutes: stop after this wall time (checkpoints are still written).
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from .tasks.pretrain import SkipClip

    out = prepare_run_dir(Path(out), cfg, resume=resume, force=force, kind="pretrain")
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    train_ds, val_ds = pretext_datasets(cfg, data)
    model = SkipClip.from_config(cfg)
    ckpt_dir = out / "checkpoints"
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="epoch{epoch:04d}", auto_insert_metric_name=False,
                                 save_last=True, save_top_k=cfg.trainer.checkpoint_keep, monitor="epoch",
                                 mode="max", every_n_epochs=1)
    t = cfg.trainer
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
        callbacks=[checkpoint, epoch_setter(train_ds), *(callbacks or []),
                   *([TQDMProgressBar(refresh_rate=10)] if progress else [])],  # rich's bar costs 4x here
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=True,
    )
    ckpt_path = None
    last = ckpt_dir / "last.ckpt"
    if resume:
        if last.exists():
            ckpt_path = str(last)
        else:
            log.warning("--resume given but %s does not exist; starting from scratch", last)
    start = time.time()
    train_loader = make_loader(train_ds, cfg, shuffle=True, drop_last=True)
    val_loader = make_loader(val_ds, cfg, shuffle=False, drop_last=False) if val_ds is not None else None
    trainer.fit(model, train_loader, val_loader, ckpt_path=ckpt_path)
    summary = {
        "wall_s": time.time() - start,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "train_videos": len(train_ds),
        "too_short_videos": len(train_ds.too_short),
        "failed_videos": dict(train_ds.failed),
        "skipped_nonfinite_batches": model.skipped_nonfinite,
        "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
        "last_checkpoint": str(last),
    }
    if trainer.is_global_zero:
        finish_run(out, summary=summary)
    return model, trainer, summary
