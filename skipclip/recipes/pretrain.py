"""The pretraining recipe: data (``open_data``, :mod:`.pretext_data`) + the Skip-Clip module + the
engine's Trainer and checkpoint kit; fit, summarise into the run folder (:mod:`.pretrain_summary`)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import lightning as L

from skipclip.config import Config
from skipclip.config.budget import pretrain_budget
from skipclip.data import Splits, open_data, test_split_size
from skipclip.engine.checkpoints import fit_kit, resume_path
from skipclip.engine.fit import fit
from skipclip.engine.monitor_clock import MonitorClock
from skipclip.engine.plan import plan_run
from skipclip.engine.precision import resolved, skipclip_probe
from skipclip.engine.resume_state import check_resume_state
from skipclip.engine.run_signals import recorded
from skipclip.engine.runs import check_run_dir, finish_run, start_run
from skipclip.engine.skipclip_module import SkipClipModule
from skipclip.engine.trainer import device_of
from skipclip.errors import InvalidInputError
from skipclip.eval.health_callback import PretextHealthMonitor
from skipclip.eval.precise_bn import PreciseBatchNorm, write_bn_into_checkpoint
from skipclip.method.pretext_metrics import RankSummary
from skipclip.recipes.pretext_data import defer_jpegs, make_loader, pretext_datasets
from skipclip.recipes.pretrain_summary import summarise
from skipclip.utils.dist import launch_rank
from skipclip.viz.curves import plot_pretraining_curves
from skipclip.viz.similarity_callback import SimilarityMaps
from skipclip.weights.read import read_checkpoint

log = logging.getLogger(__name__)


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
    splits: Splits | None = None,
):
    """Pretrain Skip-Clip; returns ``(module, trainer, summary)``, ``module.model`` being the
    trained :class:`~skipclip.method.model.SkipClipModel` and ``summary`` a
    :class:`~skipclip.recipes.pretrain_summary.PretrainSummary`.

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
        splits: ``data``'s sources, already opened (the demo renders the synthetic set once for
            all its steps); ``None`` opens them here (:func:`~skipclip.data.open_data`).

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
    splits = open_data(data, cfg) if splits is None else splits
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
        maps = SimilarityMaps(val_ds, work, images_every) if images_every and val_ds is not None else None
        figures: list[L.Callback] = [maps] if maps is not None else []
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
        summary = summarise(trainer, budget, wall, batch, kit, train_ds, val_ds, module, out)
        summary = dataclasses.replace(
            summary,
            validations=clock.validations,
            precision=precision,
            monitor_s=clock.seconds + (health.final_s if health is not None else 0.0),
            figures_s=maps.seconds if maps is not None else 0.0,
            figure_sets=maps.sets if maps is not None else 0,
            frame_cache=frame_cache_stats(train_ds, cfg),
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


def frame_cache_stats(train_ds, cfg: Config) -> dict | None:
    """The training store's decoded-frame cache counts, when this process did the reading."""
    cache = getattr(train_ds.source, "frame_cache", None)
    return cache.stats() if cache is not None and not cfg.data.num_workers else None


def draw_curves(out: Path, baselines: Mapping[str, RankSummary] | None) -> Path | None:
    """``out/figures/pretraining_curves.png`` from the run's CSV log (none without one), with the
    pretext-health ``baselines`` as horizontal bands."""
    csv_path = out / "logs" / "metrics.csv"
    if not csv_path.is_file():
        return None
    return plot_pretraining_curves(csv_path, out / "figures" / "pretraining_curves.png", baselines=baselines)
