"""The fine-tuning recipe (`skipclip finetune`): an initial g (engine), the labelled splits
(``open_data``), the fine-tuning protocol (eval), then the report and the best checkpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path

from skipclip.config import Config, apply_overrides, finetune_settings, validate
from skipclip.data import open_data, per_class
from skipclip.engine.checkpoints import resume_path
from skipclip.engine.folder_kind import refuse_other_kind
from skipclip.engine.run_replace import run_folder
from skipclip.engine.run_signals import recorded
from skipclip.engine.runs import finish_run, prepare_run_dir, read_run, update_run
from skipclip.engine.trainer import check_devices
from skipclip.errors import InvalidInputError, OutputExistsError
from skipclip.eval.classifier import ActionClassifier
from skipclip.eval.finetune import finetune
from skipclip.eval.finetune_history import FinetuneHistory
from skipclip.eval.finetune_inputs import check_sources
from skipclip.eval.finetune_result import FinetuneResult, protocol_name
from skipclip.eval.report import finetune_card, over_seeds, write_report
from skipclip.eval.video_level import evaluate_video_level
from skipclip.utils.dist import launch_rank
from skipclip.utils.io import atomic_torch_save
from skipclip.weights.initialise import initial_encoder


def check_finetune_dir(out: Path, force: bool) -> None:
    """Refuse to write into a folder holding another run, or an earlier fine-tuning without ``force``.

    Raises:
        FileExistsError: ``out`` holds a pretraining run (by its ``run.json`` or its checkpoints'
            weights: its logs and checkpoints would be overwritten; never, even with ``force``) or a
            prepared store, or a fine-tuning report, logs or
            checkpoints without a ``run.json`` and ``force`` is not given. A fine-tuning run
            folder (its ``run.json``) is left to :func:`~skipclip.engine.runs.prepare_run_dir`
            (``--resume`` / ``--force``).
    """

    info = read_run(out)
    if info is not None and info.get("kind") != "finetune":
        raise OutputExistsError(
            f"{out} holds a {info.get('kind', 'skipclip')} run (run.json); fine-tuning would "
            "overwrite its logs/metrics.csv and checkpoints, even with --force: choose another --out"
        )
    refuse_other_kind(out, "finetune")  # a pretraining run without its run.json, a store
    present = [n for n in ("report.json", "logs", "checkpoints") if (out / n).exists()]
    if info is None and present and not force:  # a fine-tuning run folder is checked by prepare_run_dir
        raise OutputExistsError(
            f"{out} already holds {', '.join(present)} (a fine-tuning run?); pass --force to "
            "overwrite them, or choose another --out"
        )


def run_finetune(
    cfg: Config,
    data: str,
    out: str | Path,
    *,
    init: str = "random",
    inflate: str | None = None,
    frozen: bool = False,
    force: bool = False,
    progress: bool = True,
    resume: bool = False,
    loggers=("csv",),
    seeds: int = 1,
) -> dict:
    """Fine-tune g from ``init`` / ``inflate`` on ``data``'s labelled training split, keep the best
    epoch on its validation split (``finetune.selection: best``) or the last epoch (``last``; with
    ``finetune.val_fraction: 0`` the whole training list trains, the paper's reading), test on
    its test split; write ``OUT/report.json`` and ``OUT/checkpoints/best.ckpt``. Returns the
    report (``{}`` on the non-first DDP processes).

    The run folder is a resumable run as pretraining's (``config.yaml``, ``run.json``, atomic
    ``checkpoints/last.ckpt`` at each epoch end): after a kill, ``resume`` continues it and ends
    as the uninterrupted run would have.

    ``seeds`` > 1 repeats the run (random initial weights included) with seeds ``trainer.seed`` ..
    ``trainer.seed + seeds - 1``: ``results`` then holds one row, the mean with its spread over
    seeds (``top1_std``...), ``per_seed`` the single runs; the run folder (logs, checkpoints,
    ``best.ckpt``) is the first seed's.

    Raises:
        FileExistsError: ``out`` already holds a run or report and neither ``resume`` nor ``force``
            is given; or another live process writes into it (``RunInUseError``).
        ValueError, FileNotFoundError: bad checkpoint, data or configuration, ``resume`` with
            ``force``, or a resume with other settings or another starting point (checked before
            the run folder is touched). A failure once the run started is recorded in ``run.json``
            (``failed``, with the error) and re-raised; Ctrl+C is recorded as ``interrupted``.
    """

    out = Path(out)
    if seeds < 1:
        raise InvalidInputError(f"--seeds must be >= 1, got {seeds}")
    first = launch_rank() == 0  # under DDP only the first process checks and writes the folder
    check_devices(cfg)  # before the folder is touched (fine-tuning plans its run in eval.finetune.finetune)
    if first:
        check_finetune_dir(out, force)
    # everything that can be wrong is checked before the run folder is touched
    encoder, info = initial_encoder(cfg, init, inflate, seed=cfg.trainer.seed)
    validate(
        apply_overrides(
            cfg, {"model.context_arch": info["arch"], "model.width": info["width"], "model.shortcut": info["shortcut"]}
        )
    )
    ft = finetune_settings(cfg)
    splits = open_data(data, cfg, need_test=True, val_fraction=ft.val_fraction, short_side=ft.short_side)
    train_src, val_src, test_src = splits.labelled, splits.val, splits.test
    check_sources(train_src, val_src, test_src, ft.clip_frames)
    start_point = {"init": info, "frozen": frozen, "data": str(data)}
    saved = (read_run(out) or {}).get("finetune") if first and resume else None
    if saved is not None and saved != json.loads(json.dumps(start_point, default=str)):
        raise InvalidInputError(
            f"cannot resume {out}: it was started from {saved}, this run starts from {start_point}; "
            "resume with the same --init/--inflate/--linear/--data, or use another --out"
        )

    start = time.time()
    resume_from = resume_path(out, resume) if first else None  # not a training checkpoint: refused here
    # takes the folder's lock; `work` is out, or with --force over a run, the new run beside it
    work = prepare_run_dir(out, cfg, resume=resume, force=force, kind="finetune", resume_from=resume_from)
    with recorded(work, write=first):  # failed (with the error) / interrupted (Ctrl+C: exit 130)
        if first:
            update_run(work, finetune=start_point)
        return _train_seeds(
            cfg,
            data,
            work,
            (train_src, val_src, test_src),
            encoder,
            init,
            inflate,
            info,
            frozen,
            progress,
            resume,
            loggers,
            seeds,
            start,
        )


def _train_seeds(
    cfg, data, out, splits, encoder, init, inflate, info, frozen, progress, resume, loggers, seeds, start
) -> dict:
    """Fine-tune once per seed (the first seed's run folder), then test and report."""
    train_src, val_src, _ = splits
    runs = []
    for i in range(seeds):
        seed = cfg.trainer.seed + i
        if i:  # every seed starts from its own random draw (a checkpoint loads the same weights)
            encoder, _ = initial_encoder(cfg, init, inflate, seed=seed)
        model, history = finetune(
            cfg,
            encoder,
            train_src,
            val_src,
            seed=seed,
            progress=progress,
            frozen=frozen,
            log_dir=out if i == 0 else None,
            devices=cfg.trainer.devices,
            num_nodes=cfg.trainer.num_nodes,
            resume=resume and i == 0,
            loggers=loggers if i == 0 else (),
        )
        if not history.global_zero:
            return {}  # the other DDP processes stop here; the first tests and writes
        runs.append((seed, model, history))
        if progress and seeds > 1:
            print(f"seed {seed}: fine-tuned (selected epoch {history.best_epoch}, val {history.val_top1})", flush=True)
    return _test_and_report(cfg, runs, info, frozen, data, out, splits, start, progress)


def _test_and_report(
    cfg,
    runs: list[tuple[int, ActionClassifier, FinetuneHistory]],
    info,
    frozen,
    data,
    out,
    splits,
    start,
    progress=False,
) -> dict:
    """Test every seed's kept weights, save the first seed's as ``best.ckpt``, write ``report.json``."""
    train_src, val_src, test_src = splits
    ft = finetune_settings(cfg)
    protocol = protocol_name(frozen)
    ckpt = out / "checkpoints" / "best.ckpt"
    shown = run_folder(out) / "checkpoints" / "best.ckpt"  # where it is once the run ends
    per_seed, failed = [], {}
    for i, (seed, model, history) in enumerate(runs):
        if i == 0:
            selection = {k: v for k, v in history.to_dict().items() if k != "val_curve"}
            atomic_torch_save(
                {
                    "state_dict": model.state_dict(),
                    "hyper_parameters": dict(model.hparams),
                    "init": info,
                    "selection": selection,
                },
                ckpt,
            )
        tested = time.time()
        test = evaluate_video_level(model, test_src, cfg, progress)
        wall = history.wall_s + time.time() - tested  # fine-tuning and testing
        per_seed.append(
            FinetuneResult.of(test, history, seed=seed, frozen=frozen, wall_s=wall, init=info["init"]).to_dict()
        )
        failed.update({**history.failed_videos, **test.failed_test_videos})
    first_history = runs[0][2]
    report = {
        "results": [over_seeds(per_seed)] if len(runs) > 1 else per_seed,
        "protocol_card": {protocol: finetune_card(ft, per_seed[0]["windows_per_video"])},
        "init": info,
        "history": first_history.to_dict(),
        "checkpoint": str(shown),
        "data": {
            "data": str(data),
            "classes": list(train_src.classes),
            "train_videos": len(train_src),
            "val_videos": len(val_src) if val_src is not None else 0,
            "test_videos": len(test_src),
            "per_class": per_class(train_src, val_src, test_src),
        },
        "config": cfg.to_dict(),
        "wall_s": time.time() - start,
        "failed_videos": failed,
    }
    report["skipped_videos"] = len(failed)
    if len(runs) > 1:
        report["per_seed"] = per_seed
        report["histories"] = [h.to_dict() for _, _, h in runs]
    write_report(out / "report.json", report)
    r0 = report["results"][0]
    finish_run(
        out,
        summary={
            "best_epoch": first_history.best_epoch,
            "test_top1": r0["top1"],
            "epochs": first_history.epochs,
            "seeds": len(runs),
        },
    )
    return report
