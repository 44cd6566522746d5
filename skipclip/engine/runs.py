"""Run folders: the resolved configuration, versions and seed of a run, and its checkpoints.

A run folder holds ``config.yaml`` (the resolved configuration), ``run.json`` (versions, seed,
command, status), ``checkpoints/`` and the CSV logs. A finished run is never overwritten without
``force``, and ``force`` never replaces a folder of another kind (a pretraining run under a
fine-tuning, a prepared store), recognised by its contents, not only by ``run.json``. One process
writes a run folder at a time (:mod:`~skipclip.engine.run_lock`). ``run.json``'s status is
``running``, then ``finished``, ``failed`` (with the error) or ``interrupted`` (Ctrl+C; ``--resume``
continues it, :mod:`~skipclip.engine.run_signals`); a run killed outright stays ``running`` and
resumes the same way. What a resume may change is :mod:`~skipclip.engine.config_changes`'s, what
a folder holds :mod:`~skipclip.engine.folder_kind`'s.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from pathlib import Path

import lightning
import numpy
import torch
import torchvision
import yaml

from skipclip._version import __version__
from skipclip.config import read_yaml
from skipclip.engine.attempts import attempt_record, checkpoint_position, refuse_finished
from skipclip.engine.checkpoint_io import remove_stale_temporaries
from skipclip.engine.config_changes import RESUMABLE_CHANGES, config_changes
from skipclip.engine.folder_kind import refuse_other_kind
from skipclip.engine.run_csv import cut_after
from skipclip.engine.run_files import load_run_record, read_run_config
from skipclip.engine.run_lock import lock_run_dir, release_run_dir
from skipclip.engine.run_replace import begin_replacement, end_replacement, holds_run, refuse_foreign_entries, settle
from skipclip.errors import InvalidInputError, OutputExistsError
from skipclip.utils.dist import launch_rank
from skipclip.utils.io import atomic_write_text, restore_replaced

log = logging.getLogger(__name__)


def versions() -> dict:
    return {
        "skipclip": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
    }


def read_run(out: Path) -> dict | None:
    """The run record ``out/run.json`` (``None`` when there is none), read as data
    (:func:`~skipclip.engine.run_files.load_run_record`: a regular file, size bound first, fields
    type-checked).

    Raises:
        InvalidInputError: the file is not a run record; the message names it (and the field).
    """
    return load_run_record(out)


def _read_run_or_new(out: Path) -> dict:
    """The run record to update: a damaged one is replaced by a new record (with a warning), so
    the end of a run is still recorded."""
    try:
        return read_run(out) or {}
    except InvalidInputError as exc:
        log.warning("%s; writing a new run record", exc)
        return {}


RUN_FILES = ("config.yaml", "checkpoints", "logs")  # what a run writes into its folder


def _reusable(out: Path, info: dict) -> bool:
    """A start that failed (or was interrupted) before any checkpoint: a retry may reuse its folder."""
    return info.get("status") in ("failed", "interrupted") and not any((out / "checkpoints").glob("*.ckpt"))


def check_run_dir(out: Path, cfg, *, resume: bool, force: bool, kind: str) -> dict | None:
    """Check, writing nothing, that a run may start (or resume) in ``out``; returns its
    ``run.json`` (``None`` when there is none).

    Raises:
        ValueError: ``resume`` and ``force`` together, or a resume whose configuration differs
            from the saved one in a key that would change the result.
        FileExistsError: ``out`` holds a run (or files a run would overwrite: a ``config.yaml``,
            ``checkpoints/``, ``logs/`` that no run record accounts for) and neither ``resume``
            nor ``force`` was given; or ``out`` holds a run of another kind (even with ``force``).
    """
    out = Path(out)
    if resume and force:
        raise InvalidInputError(
            "--resume and --force contradict each other: --resume continues the run in "
            f"{out}, --force deletes it; pass one of them"
        )
    info = read_run(out)
    if info is not None and info.get("kind", kind) != kind:
        raise OutputExistsError(
            f"{out} holds a {info.get('kind')} run; a {kind} run would overwrite its logs and "
            "checkpoints, even with --force: choose another --out"
        )
    if info is None or force:
        refuse_other_kind(out, kind)
    if force:
        refuse_foreign_entries(out)
    if info is None and not (force or resume):
        present = [name for name in RUN_FILES if (out / name).exists()]
        if present:
            raise OutputExistsError(
                f"{out} holds {', '.join(present)} but no run.json: files this run would "
                "overwrite. Choose another --out, or pass --force to overwrite them"
            )
    if info is not None and not (resume or force or _reusable(out, info)):
        state = "finished" if info.get("status") == "finished" else "unfinished"
        raise OutputExistsError(
            f"{out} already holds a {state} {info.get('kind', '')} run; pass --resume to continue it, "
            "--force to overwrite it, or choose another --out"
        )
    raw = read_run_config(out) if resume else None  # a regular file, size bound first
    if raw is not None:
        saved = read_yaml(raw, str(out / "config.yaml")) or {}  # no aliases
        if not isinstance(saved, dict):
            raise InvalidInputError(f"{out / 'config.yaml'} holds a {type(saved).__name__}, not a configuration")
        if info is not None:
            refuse_finished(out, info, saved, cfg, kind)  # nothing to do: exit 0, nothing changes
        bad = {k: v for k, v in config_changes(saved, cfg).items() if k not in RESUMABLE_CHANGES}
        if bad:
            listing = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in bad.items())
            raise InvalidInputError(
                f"cannot resume {out} with a different configuration ({listing}); only "
                f"{', '.join(sorted(RESUMABLE_CHANGES))} may change. Resume with the saved "
                "values, or start a new run in another --out"
            )
    return info


def start_run(
    out: Path, cfg, info: dict | None, *, resume: bool, force: bool, kind: str, resume_from: str | None = None
) -> Path:
    """Take the folder's lock (:func:`~skipclip.engine.run_lock.lock_run_dir`, held until
    :func:`finish_run`), check the folder again under it, then write the run's ``config.yaml`` and
    ``run.json`` (status ``running``); call it only once everything that can be wrong with the
    input was checked. Returns the folder the run writes into: ``out`` itself, or with ``force``
    over a run, a new folder beside it that replaces ``out`` as a set at its first checkpoint
    (:mod:`~skipclip.engine.run_replace`). A resume (from ``resume_from``) keeps the earlier
    attempts under ``attempts`` in ``run.json`` and the rows of ``logs/metrics.csv`` before the
    checkpoint's step.

    Raises:
        RunInUseError: another live process writes into ``out``.
        ValueError, FileExistsError: see :func:`check_run_dir` (the folder changed since it was
            checked).
    """

    out = Path(out)
    if restore_replaced(out):  # a --force run killed between the two renames of its swap
        log.warning("put back %s: a --force run was killed while swapping it in", out)
    lock_run_dir(out)
    try:  # what another run may have written since the first check
        settle(out)  # under the lock: folders a killed --force run left beside out
        info = check_run_dir(out, cfg, resume=resume, force=force, kind=kind)
    except BaseException:
        release_run_dir(out)
        raise
    work = out
    if force and holds_run(out):
        work = begin_replacement(out)  # the old run stays until the new one has a checkpoint
    elif resume:  # under the lock: before it, these could be a live writer's files, not a dead one's
        remove_stale_temporaries(out / "checkpoints")
    step, wall = checkpoint_position(resume_from) if resume_from else (None, 0.0)
    cut_after(work, step)  # the rows logged past the checkpoint are trained again; a fresh start: none
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(work / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    record = {
        "kind": kind,
        "status": "running",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": cfg.trainer.seed,
        "command": " ".join(sys.argv),
        "versions": versions(),
        "first_step": step or 0,
        "wall_s_before": wall,
    }
    if info and (resume or _reusable(out, info)) and not force:
        record["attempts"] = [*info.get("attempts", []), attempt_record(info, step, wall if step else None)]
        if resume:
            record["resumed_from_status"] = info.get("status")
            record["resumes"] = info.get("resumes", 0) + 1
    atomic_write_text(work / "run.json", json.dumps(record, indent=2, default=str))
    return work


def prepare_run_dir(out: Path, cfg, *, resume: bool, force: bool, kind: str, resume_from: str | None = None) -> Path:
    """:func:`check_run_dir` then :func:`start_run`, on the launch's rank 0 only (the other
    processes of a distributed run get the path back).

    Raises:
        ValueError, FileExistsError: see :func:`check_run_dir`.
    """

    out = Path(out)
    if launch_rank() != 0:
        if resume and force:
            raise InvalidInputError("--resume and --force contradict each other; pass one of them")
        return out
    info = check_run_dir(out, cfg, resume=resume, force=force, kind=kind)
    return start_run(out, cfg, info, resume=resume, force=force, kind=kind, resume_from=resume_from)


def check_output_dir(out: Path, force: bool, names=("report.json", "pretrain")) -> None:
    """Refuse an output folder that already holds a report or runs, unless ``force``.

    Raises:
        FileExistsError: ``out`` holds one of ``names`` and ``force`` is not given.
    """
    present = [n for n in names if (Path(out) / n).exists()]
    if present and not force:
        raise OutputExistsError(
            f"{out} already holds {', '.join(present)}; pass --force to replace them, or choose another --out"
        )


def finish_run(out: Path, status: str = "finished", **extra) -> None:
    """Record the end of a run in ``run.json`` (``finished``, ``failed`` with the error, or
    ``interrupted``) and release the folder's lock. ``out`` is the folder :func:`start_run`
    returned: a ``--force`` run that ends before its first checkpoint is discarded then (the old
    run stays), one that finished is swapped in."""

    try:
        info = _read_run_or_new(out)
        info.update(status=status, ended=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra)
        atomic_write_text(Path(out) / "run.json", json.dumps(info, indent=2, default=str))
    finally:
        release_run_dir(out)
        end_replacement(out, finished=status == "finished")  # a --force run: swapped in, or discarded


def update_run(out: Path, **extra) -> None:
    """Add keys to ``run.json`` (its status unchanged)."""
    info = _read_run_or_new(out)
    info.update(**extra)
    atomic_write_text(Path(out) / "run.json", json.dumps(info, indent=2, default=str))
