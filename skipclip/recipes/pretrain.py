"""The pretraining recipe: data (``open_data``) + the Skip-Clip module + the engine's Trainer and
checkpoint kit; fit, summarise into the run folder."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import lightning as L

from skipclip.config import Config
from skipclip.config.budget import BudgetUsed, pretrain_budget
from skipclip.data import PretextDataset, PretextWindow, Splits, epoch_loader, open_data, test_split_size
from skipclip.engine.checkpoints import fit_kit, resume_path
from skipclip.engine.fit import fit
from skipclip.engine.monitor_clock import MonitorClock
from skipclip.engine.plan import plan_run
from skipclip.engine.precision import resolved, skipclip_probe
from skipclip.engine.resume_state import check_resume_state
from skipclip.engine.run_signals import recorded
from skipclip.engine.runs import check_run_dir, finish_run, start_run
from skipclip.engine.skipclip_module import SkipClipModule
from skipclip.engine.trainer import device_of, process_plan
from skipclip.errors import InvalidInputError
from skipclip.eval.health_callback import PretextHealthMonitor
from skipclip.eval.precise_bn import RUNNING, PreciseBatchNorm, write_bn_into_checkpoint
from skipclip.eval.pretext_health import PretextHealth
from skipclip.method.pretext_metrics import RankSummary
from skipclip.utils.dist import batch_per_process, launch_rank
from skipclip.utils.records import record
from skipclip.viz.curves import plot_pretraining_curves
from skipclip.viz.similarity_callback import SimilarityMaps
from skipclip.weights.read import read_checkpoint

log = logging.getLogger(__name__)


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
    precision: str = "32-true"
    bn_stats: dict = dataclasses.field(default_factory=lambda: dict(RUNNING))
    val_videos: int = 0
    test_videos: int = 0
    health: PretextHealth | None = None

    def to_dict(self, with_health: bool = False) -> dict:
        """``run.json``'s ``summary`` record; ``with_health``: then ``health``, its record (``None``
        without one), as the Python API's ``PretrainResult.summary`` and the demo's report carry it."""
        return record(self) if with_health else record(self, exclude=("health",))


def pretext_datasets(
    cfg: Config, data: str, splits: Splits | None = None
) -> tuple[PretextDataset, PretextDataset | None]:
    splits = open_data(data, cfg) if splits is None else splits
    train_src, val_src = splits.train, splits.val
    w, d, p = PretextWindow.from_config(cfg), cfg.data, cfg.pretext
    short = splits.short_side
    train = PretextDataset(
        train_src, w, d.crop_size, short, p.reverse_prob, p.flip_prob, seed=cfg.trainer.seed, train=True
    )
    val = None
    if val_src is not None and len(val_src) > 0:
        val = PretextDataset(val_src, w, d.crop_size, short, seed=cfg.trainer.seed, train=False)
    return train, val


def process_batch(cfg: Config) -> int:
    """Videos per process and step: ``data.batch_size`` itself (``data.batch_per: device``) or
    ``data.batch_size`` / the world size (``global``, the paper preset), the world size being the
    launcher's or ``trainer.devices x trainer.num_nodes``.

    Raises:
        ValueError: a global batch the world size does not divide.
    """

    return batch_per_process(cfg.data.batch_size, cfg.data.batch_per, process_plan(cfg).world_size)


def make_loader(dataset, cfg: Config, shuffle: bool, drop_last: bool, batch_size: int | None = None):
    """A loader with a resumable, rank-sharded :class:`~skipclip.data.sampling.epoch_sampler.EpochSampler`;
    ``batch_size`` per process (default :func:`process_batch`)."""

    batch = process_batch(cfg) if batch_size is None else batch_size
    return epoch_loader(
        dataset,
        batch,
        shuffle=shuffle,
        drop_last=drop_last,
        seed=cfg.trainer.seed,
        num_workers=cfg.data.num_workers,
        mark_padding=not drop_last,
        timeout=cfg.data.loader_timeout,
        prefetch=cfg.data.prefetch,
    )


def pretrain(
    cfg: Config,
    data: str,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    callbacks: list | None = None,
    max_minutes: float | None = None,
    checkpoint_every: int | None = 50,
    loggers=("csv",),
    images_every: int = 10,
):
    """Pretrain Skip-Clip; returns ``(module, trainer, summary)``, ``module.model`` being the
    trained :class:`~skipclip.method.model.SkipClipModel` and ``summary`` a :class:`PretrainSummary`.

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
        max_minutes: stop after this wall time (checkpoints are still written); default
            ``trainer.time_budget_min``. The length is ``optim.max_steps`` optimiser steps, or
            ``optim.max_epochs`` epochs without it (:mod:`~skipclip.config.budget`).
        checkpoint_every: optimiser steps between mid-epoch ``last.ckpt`` writes (0: epoch ends only).
        loggers: ``csv``, ``tensorboard``, ``wandb`` (:mod:`skipclip.engine.loggers`).
        images_every: epochs between Figure 3 similarity maps of 3 fixed validation videos (0: none).

    Raises:
        ValueError: ``resume`` and ``force`` together, a resume with an incompatible config, or a
            global batch (``data.batch_per: global``) the number of processes does not divide.
        FileExistsError: ``out`` holds a run (or a ``config.yaml``, ``checkpoints/``, ``logs/`` of
            no run) and neither ``resume`` nor ``force`` was given.
        UnsafeCheckpointError: ``--resume`` meets a ``last.ckpt`` holding pickled objects.
        RunInUseError: another live process writes into ``out`` (its lock, ``out/.lock``).
        FileNotFoundError, ValueError: unusable data; nothing is written to ``out`` then. A failure
            once training started is recorded in ``run.json`` (status ``failed``) and re-raised;
            Ctrl+C is recorded as ``interrupted`` and raised as ``KeyboardInterrupt``.
    """

    budget = pretrain_budget(cfg)
    if max_minutes:
        budget.minutes = max_minutes
    # once, before the run folder is touched: GPU ids this machine cannot give and an uneven global
    # batch are refused here
    plan = plan_run(cfg, budget, cfg.data.batch_size)
    batch = plan.batch_per_process

    out, first = Path(out), launch_rank() == 0
    if resume and force:
        raise InvalidInputError(
            f"--resume and --force contradict each other: --resume continues the run in {out}, "
            "--force deletes it; pass one of them"
        )
    info = check_run_dir(out, cfg, resume=resume, force=force, kind="pretrain") if first else None
    if cfg.trainer.deterministic:  # deterministic cuBLAS (torch raises without it on GPU)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)  # same initial weights on every rank
    splits = open_data(data, cfg)
    train_ds, val_ds = pretext_datasets(cfg, data, splits)  # bad data: an error before the folder is touched
    module = SkipClipModule.from_config(cfg)
    precise = PreciseBatchNorm.from_config(cfg, splits)  # batch-norm statistics that belong to the weights
    health = PretextHealthMonitor.from_config(cfg, splits, module.model, precise)  # copies step 0's g and f
    module.schedule_epoch_steps = budget.schedule_epoch_steps
    if cfg.trainer.compile:  # torch.compile both encoders (minutes of compilation, faster steps)
        module.model.context_encoder.compile()
        module.model.frame_encoder.compile()
    defer_jpegs(cfg, module, train_ds, val_ds)
    train_loader = make_loader(train_ds, cfg, shuffle=True, drop_last=True, batch_size=batch)
    val_loader = (
        make_loader(val_ds, cfg, shuffle=False, drop_last=False, batch_size=batch) if val_ds is not None else None
    )
    t = cfg.trainer
    ckpt = resume_path(out, resume)  # a last.ckpt that is not plain tensors is refused here
    if ckpt is not None:  # and one whose state does not fit this model, before anything is restored
        check_resume_state(read_checkpoint(ckpt), module, ckpt)
    work = out
    if first:  # takes the folder's lock: one run writes here at a time
        work = start_run(out, cfg, info, resume=resume, force=force, kind="pretrain", resume_from=ckpt)
    kit = fit_kit(work, train_loader, keep=t.checkpoint_keep, every_n_steps=checkpoint_every, seed=t.seed)
    kit.ckpt_path = ckpt
    with recorded(work, write=first):  # failed / interrupted (Ctrl+C: exit 130, --resume continues)
        figures: list[L.Callback] = (
            [SimilarityMaps(val_ds, work, images_every)] if images_every and val_ds is not None else []
        )
        figures += [health] if health is not None else []
        figures += [precise] if precise is not None else []  # its on_train_end: every process, the model itself
        clock = MonitorClock()
        device = device_of(cfg)
        choice = resolved(cfg, lambda: skipclip_probe(cfg, device), device)
        precision = choice.precision if choice is not None else cfg.trainer.precision
        done = fit(
            cfg,
            module,
            train_loader,
            val_loader,
            plan=plan,
            what="pretraining",
            out=work,
            callbacks=[clock, *kit.callbacks, *figures, *(callbacks or [])],
            plugins=kit.plugins,
            ckpt_path=kit.ckpt_path,
            progress=progress,
            loggers=loggers,
            precision=precision,
        )
        trainer = done.trainer
        wall = kit.position.wall_before + done.wall_s  # the whole run's, every attempt's
        summary = _summary(trainer, budget, wall, batch, kit, train_ds, val_ds, module, out)
        summary = dataclasses.replace(
            summary,
            validations=clock.validations,
            precision=precision,
            monitor_s=clock.seconds + (health.final_s if health is not None else 0.0),
        )
        if precise is not None and precise.final_step is not None:  # into the folder being written (work)
            written = trainer.is_global_zero and write_bn_into_checkpoint(
                Path(work) / "checkpoints" / "last.ckpt", module.model, precise.final_step
            )
            summary = dataclasses.replace(summary, bn_stats={**precise.record(), "in_last_checkpoint": bool(written)})
        summary = dataclasses.replace(
            summary, val_videos=len(splits.val) if splits.val is not None else 0, test_videos=test_split_size(data, cfg)
        )
        if trainer.is_global_zero:
            found = health.result() if health is not None else None
            finish_run(work, summary=summary.to_dict(), health=found.to_dict() if found is not None else None)
            summary = dataclasses.replace(summary, health=found)
            draw_curves(out, found.baselines if found is not None else None)
    return module, trainer, summary


def defer_jpegs(cfg: Config, module: SkipClipModule, *datasets) -> bool:
    """On CUDA with ``data.gpu_decode``, let the loaders hand a JPEG store's frames over undecoded
    and the module decode them on the GPU in batches (:mod:`~skipclip.data.sampling.jpeg_batch`);
    elsewhere, or for other sources, the loaders decode on the CPU. Returns whether it is on."""
    on = cfg.data.gpu_decode and device_of(cfg) == "cuda"
    found = [ds.defer_decoding(on) for ds in datasets if ds is not None]
    if found and all(found):
        p = cfg.pretext
        module.jpeg_window = (p.context_frames, p.num_targets, p.target_length)
        return True
    for ds in datasets:
        if ds is not None:
            ds.defer_decoding(False)
    return False


def _summary(trainer, budget, wall: float, batch: int, kit, train_ds, val_ds, module, out: Path) -> PretrainSummary:
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


def draw_curves(out: Path, baselines: Mapping[str, RankSummary] | None) -> Path | None:
    """``out/figures/pretraining_curves.png`` from the run's CSV log (none without one), with the
    pretext-health ``baselines`` as horizontal bands."""
    csv_path = out / "logs" / "metrics.csv"
    if not csv_path.is_file():
        return None
    return plot_pretraining_curves(csv_path, out / "figures" / "pretraining_curves.png", baselines=baselines)
