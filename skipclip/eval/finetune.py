"""The fine-tuning protocol (section 4.2 of the paper): g + global average pooling + a linear
layer, random crops of one random clip per video and epoch, Adam with the paper's step schedule;
the weights kept are those of the epoch with the best video accuracy on the validation split
(never the test split). Testing: centre crop, every non-overlapping window of a test video,
softmax averaged per video.

With ``frozen=True`` the same pipeline trains the linear layer only, on frozen g: the
``finetune_frozen`` protocol (Adam, clip level), distinct from :mod:`.linear_probe`'s L-BFGS
regression on per-video features.

Everything that can be wrong with the input (empty or unlabelled splits, class counts, test
videos shorter than a window) is checked before any training starts (:mod:`.finetune_inputs`).
How a run went is a :class:`~.finetune_history.FinetuneHistory`, the report's row a
:class:`~.finetune_result.FinetuneResult`.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import lightning as L
from torch import nn

from skipclip.config import Config, FinetuneConfig, finetune_settings
from skipclip.config.budget import finetune_budget
from skipclip.data import ClipDataset, epoch_loader
from skipclip.engine.callbacks import CollectFailures, KeepBest
from skipclip.engine.checkpoints import fit_kit
from skipclip.engine.fit import fit
from skipclip.engine.plan import plan_run
from skipclip.engine.precision import encoder_probe, resolved
from skipclip.engine.resume import TrainingPosition
from skipclip.engine.resume_state import check_resume_state
from skipclip.engine.trainer import device_of
from skipclip.eval.classifier import ActionClassifier
from skipclip.eval.finetune_history import FinetuneHistory, restore_selected
from skipclip.eval.finetune_inputs import check_sources
from skipclip.eval.finetune_result import FinetuneResult
from skipclip.eval.video_level import evaluate_video_level
from skipclip.models.normalize import input_stats_of
from skipclip.weights.read import read_checkpoint


def build_classifier(cfg: Config, encoder: nn.Module, num_classes: int, frozen: bool = False):
    ft = finetune_settings(cfg)
    return ActionClassifier(
        encoder,
        num_classes,
        lr=ft.lr,
        weight_decay=ft.weight_decay,
        lr_step_epochs=ft.lr_step_epochs,
        lr_gamma=ft.lr_gamma,
        lr_last_step_epoch=ft.lr_last_step_epoch,
        freeze_encoder=frozen,
        dropout=ft.dropout,
        config=cfg.to_dict(),
        input_stats=input_stats_of(encoder),
    )


def train_clips(ft: FinetuneConfig, source, seed: int) -> ClipDataset:
    """Fine-tuning's training clips: one random ``clip_frames`` clip per video and epoch, a random
    ``crop_size`` crop, and a horizontal flip with probability ``ft.flip_prob`` (the paper names
    random crops only, section 4.2: 0 in the paper preset)."""
    return ClipDataset(
        source, ft.clip_frames, ft.crop_size, ft.short_side, train=True, seed=seed, flip_prob=ft.flip_prob
    )


def finetune(
    cfg: Config,
    encoder: nn.Module,
    train_src,
    val_src,
    *,
    epochs: int | None = None,
    seed: int = 0,
    progress: bool = False,
    frozen: bool = False,
    log_dir=None,
    devices=1,
    num_nodes: int = 1,
    resume: bool = False,
    loggers=("csv",),
) -> tuple[ActionClassifier, FinetuneHistory]:
    """Fine-tune g (or, ``frozen``, only the linear layer on frozen g) on ``train_src``; keep the
    weights of the epoch with the best validation video accuracy (``finetune.selection: best``)
    or of the last epoch (``last``, the paper's reading; the validation curve is still logged).

    ``finetune.batch_size`` is per process, or the global batch split over the processes under
    ``data.batch_per: global``. ``encoder`` is trained in place.

    With a run folder (``log_dir``) the run is checkpointed atomically: ``log_dir/checkpoints/last.ckpt``
    at every epoch end, after that epoch's validation (a kill loses at most the epoch in progress;
    mid-epoch checkpoints would resume past a validation Lightning then skips, changing the
    selection), the last ``trainer.checkpoint_keep`` epoch checkpoints, and ``best.ckpt`` each time
    validation improves. ``resume`` continues from ``last.ckpt`` exactly: model, optimiser,
    schedule, random streams, clip order and the best epoch so far.

    The length is ``finetune.max_steps`` optimiser steps (validation every
    ``finetune.val_every_steps``), or ``finetune.max_epochs`` epochs without it or when ``epochs``
    is given (:mod:`~skipclip.config.budget`); ``trainer.time_budget_min`` caps the wall time.

    ``devices``/``num_nodes`` above one run Lightning's DDP: each process trains on its share of
    the clips, validation scores are gathered so every process selects the same epoch, and
    ``history.global_zero`` tells the caller which process should test and write. Library
    callers (demo, reproduce) keep the default single device.

    Returns:
        The classifier with the kept weights, and the run's :class:`FinetuneHistory`.
    """

    ft = finetune_settings(cfg)
    plan = plan_run(
        cfg,
        finetune_budget(cfg, epochs),
        ft.batch_size,
        batch_key="finetune.batch_size",
        devices=devices,
        num_nodes=num_nodes,
    )
    budget, batch = plan.budget, plan.batch_per_process  # clips per process
    L.seed_everything(seed, workers=True, verbose=False)
    model = build_classifier(cfg, encoder, len(train_src.classes), frozen)
    model.schedule_epoch_steps = budget.schedule_epoch_steps
    train_ds = train_clips(ft, train_src, seed)
    workers = cfg.data.num_workers
    timeout = cfg.data.loader_timeout if workers else 0
    # clip order a pure function of (seed, epoch), sharded over DDP ranks, restartable mid-epoch
    train_loader = epoch_loader(
        train_ds,
        batch,
        shuffle=True,
        drop_last=len(train_ds) > batch,
        seed=seed,
        num_workers=workers,
        timeout=timeout,
        prefetch=cfg.data.prefetch,
    )
    val_loader = val_ds = None
    if val_src is not None:
        val_ds = ClipDataset(val_src, ft.clip_frames, ft.crop_size, ft.short_side, train=False, stride=ft.window_stride)
        val_loader = epoch_loader(
            val_ds,
            batch,
            shuffle=False,
            drop_last=False,
            seed=seed,
            num_workers=workers,
            timeout=timeout,
            mark_padding=True,
            prefetch=cfg.data.prefetch,
        )  # DDP padding unscored
    failures = CollectFailures()
    if log_dir is not None:
        keep = KeepBest("val/video_acc", save_to=Path(log_dir) / "checkpoints" / "best.ckpt")
        kit = fit_kit(
            log_dir,
            train_loader,
            keep=cfg.trainer.checkpoint_keep,
            every_n_steps=0,
            seed=seed,
            resume=resume,
            save_on_train_epoch_end=True,
        )  # after the epoch's validation
        callbacks, plugins, ckpt_path = [*kit.callbacks, keep, failures], kit.plugins, kit.ckpt_path
        if ckpt_path is not None:  # the resume state fits this model, before anything is restored
            check_resume_state(read_checkpoint(ckpt_path), model, ckpt_path)
    else:
        keep = KeepBest("val/video_acc")
        callbacks, plugins, ckpt_path = [TrainingPosition(train_loader, seed=seed), keep, failures], None, None
    device = device_of(cfg)
    choice = resolved(cfg, lambda: encoder_probe(cfg, ft.clip_frames, ft.crop_size, batch, device, frozen), device)
    done = fit(
        cfg,
        model,
        train_loader,
        val_loader,
        plan=plan,
        what="fine-tuning on",
        out=log_dir,
        callbacks=callbacks,
        plugins=plugins,
        ckpt_path=ckpt_path,
        progress=progress,
        loggers=loggers,
        enable_checkpointing=log_dir is not None,
        precision=choice.precision if choice is not None else None,
    )
    failed = {**train_ds.failed, **(val_ds.failed if val_ds is not None else {}), **failures.failed}
    history = restore_selected(
        ft.selection, keep, model, done, budget, batch, len(train_ds.too_short), failed, ckpt_path
    )
    return model, history


def finetune_and_test(
    cfg: Config,
    encoder: nn.Module,
    train_src,
    val_src,
    test_src,
    *,
    epochs: int | None = None,
    seed: int = 0,
    progress: bool = False,
    frozen: bool = False,
) -> FinetuneResult:
    """Fine-tune a copy of ``encoder`` on ``train_src`` (model selection on ``val_src``, which may
    be ``None``) and test it on ``test_src`` the paper's way.

    Args:
        cfg: configuration; its ``finetune`` section sets frames, crop, optimiser and epochs.
        encoder: the context encoder g to start from; it is copied, the caller's stays untouched.
        epochs: overrides ``finetune.max_epochs``.
        seed: seed of the clip sampling, crops, batch order and classifier initialisation.
        frozen: train the linear layer only, on frozen g.

    Returns:
        The protocol's row, ``init`` unset: video and clip accuracy on ``test_src``, the validation
        top-1 and epoch of the kept weights, budget, seed and timings.

    Raises:
        ValueError: mismatched or unusable splits, test videos shorter than one window.
    """
    ft = finetune_settings(cfg)
    check_sources(train_src, val_src, test_src, ft.clip_frames)
    start = time.time()
    model, history = finetune(
        cfg, copy.deepcopy(encoder), train_src, val_src, epochs=epochs, seed=seed, progress=progress, frozen=frozen
    )
    test = evaluate_video_level(model, test_src, cfg, progress)
    return FinetuneResult.of(test, history, seed=seed, frozen=frozen, wall_s=time.time() - start)
