"""The fine-tuning protocol (section 4.2 of the paper): g + global average pooling + a linear
layer, random crops of one random clip per video and epoch, Adam with the paper's step schedule;
the weights kept are those of the epoch with the best video accuracy on the validation split
(never the test split). Testing: centre crop, every non-overlapping window of a test video,
softmax averaged per video.

With ``frozen=True`` the same pipeline trains the linear layer only, on frozen g: the
``finetune_frozen`` protocol (Adam, clip level), distinct from :mod:`.linear_probe`'s L-BFGS
regression on per-video features.

Everything that can be wrong with the input (empty or unlabelled splits, class counts, test
videos shorter than a window) is checked before any training starts.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from torch import nn

from skipclip.config import Config, FinetuneConfig, finetune_settings
from skipclip.config.budget import Budget, BudgetUsed, finetune_budget
from skipclip.data import ClipDataset, VideoReadError, epoch_loader
from skipclip.engine.callbacks import CollectFailures, KeepBest
from skipclip.engine.checkpoints import fit_kit
from skipclip.engine.fit import FitOutcome, fit
from skipclip.engine.plan import plan_run
from skipclip.engine.precision import encoder_probe, resolved
from skipclip.engine.resume import TrainingPosition
from skipclip.engine.resume_state import check_resume_state
from skipclip.engine.trainer import device_of
from skipclip.errors import InvalidInputError
from skipclip.eval.classifier import ActionClassifier
from skipclip.eval.video_level import VideoLevelResult, evaluate_video_level
from skipclip.models.normalize import input_stats_of
from skipclip.utils.records import record
from skipclip.weights.read import read_checkpoint


def check_sources(train, val, test, clip_frames: int) -> None:
    """Refuse inputs that would make the numbers meaningless, before any work.

    Raises:
        ValueError: an empty or unlabelled split, splits with different classes, or a test video
            shorter than one window (naming the videos and the fix).
    """
    for name, src in (("train", train), ("val", val), ("test", test)):
        if src is None:
            continue
        if len(src) == 0:
            raise InvalidInputError(f"the {name} split has no videos")
        if len(src.classes) < 2:
            raise InvalidInputError(
                f"the {name} split has {len(src.classes)} classes; action recognition needs "
                "labelled videos of at least 2 classes (class subfolders or split files)"
            )
        if list(src.classes) != list(train.classes):
            raise InvalidInputError(
                f"the {name} split's classes differ from the training split's "
                f"({len(src.classes)} vs {len(train.classes)}); use one data set for all splits"
            )
        unlabelled = [src.name(i) for i in range(len(src)) if src.label(i) < 0]
        if unlabelled:
            raise InvalidInputError(f"{len(unlabelled)} {name} videos have no label, e.g. {unlabelled[0]}")
    short = [(test.name(i), n) for i, n in enumerate(_frame_counts(test)) if n is not None and n < clip_frames]
    if short:
        listed = ", ".join(f"{n} ({f} frames)" for n, f in short[:5])
        raise InvalidInputError(
            f"{len(short)} test videos are shorter than one {clip_frames}-frame window: {listed}"
            f"{' ...' if len(short) > 5 else ''}; every test video must be scored, so lower "
            "finetune.clip_frames (e.g. --clip-frames) or remove those videos from the test list"
        )


def _frame_counts(src) -> list[int | None]:
    """Frames per video; ``None`` for a video that cannot be read (skipped and reported later)."""

    counts = []
    for i in range(len(src)):
        try:
            counts.append(src.num_frames(i))
        except VideoReadError:
            counts.append(None)
    return counts


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
    history = _restore_selected(
        ft.selection, keep, model, done, budget, batch, len(train_ds.too_short), failed, ckpt_path
    )
    return model, history


def _restore_selected(
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


FROZEN_METHOD = "linear layer trained with Adam on frozen g, clip level (fine-tuning pipeline)"


def protocol_name(frozen: bool) -> str:
    return "finetune_frozen" if frozen else "finetune"


@dataclass(frozen=True, kw_only=True)
class FinetuneResult:
    """The ``finetune`` (or ``finetune_frozen``) protocol's row of a report (:func:`finetune_and_test`).

    Attributes:
        init: where g started; ``None`` until the caller that knows says (``dataclasses.replace``).
        protocol: ``"finetune"`` or ``"finetune_frozen"``.
        (The fields after ``test`` are ``None`` for a classifier tested as it was fine-tuned earlier.)
        test: the test of the kept weights; its fields are the row's first.
        val_top1: best validation video top-1 (``None`` without validation).
        best_epoch, best_step: where the kept weights come from.
        epochs, steps: how long it trained.
        budget: the budget as text.
        selected_by: how the kept weights were chosen, in words.
        seed: the run's seed.
        train_s: wall time of fine-tuning.
        failed_videos: ``{video: reason}`` of every unreadable training, validation or test video.
        method: :data:`FROZEN_METHOD` for ``finetune_frozen`` (``None``: not written).
        wall_s: wall time of fine-tuning and testing.
    """

    init: str | None = None
    protocol: str
    test: VideoLevelResult
    val_top1: float | None = None
    best_epoch: int | None = None
    epochs: int | None = None
    best_step: int | None = None
    steps: int | None = None
    budget: str | None = None
    selected_by: str | None = None
    seed: int | None = None
    train_s: float | None = None
    failed_videos: dict[str, str] = dataclasses.field(default_factory=dict)
    method: str | None = None
    wall_s: float | None = None

    @classmethod
    def of(
        cls,
        test: VideoLevelResult,
        history: FinetuneHistory,
        *,
        seed: int,
        frozen: bool,
        wall_s: float,
        init: str | None = None,
    ) -> FinetuneResult:
        """The row of a fine-tuning (``history``) whose kept weights were tested (``test``)."""
        return cls(
            init=init,
            protocol=protocol_name(frozen),
            test=test,
            val_top1=history.val_top1,
            best_epoch=history.best_epoch,
            epochs=history.epochs,
            best_step=history.best_step,
            steps=history.steps,
            budget=history.budget.budget,
            selected_by=history.selected_by,
            seed=seed,
            train_s=history.wall_s,
            failed_videos={**history.failed_videos, **test.failed_test_videos},
            method=FROZEN_METHOD if frozen else None,
            wall_s=wall_s,
        )

    def to_dict(self) -> dict:
        """The row: ``init`` (when set), ``protocol``, the test's fields, then the other fields in order."""
        head = {"init": self.init} if self.init is not None else {}
        rest = record(self, omit_none=("method",), exclude=("init", "protocol", "test"))
        return {**head, "protocol": self.protocol, **self.test.to_dict(), **rest}


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
