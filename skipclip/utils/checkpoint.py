"""Checkpoints that survive a kill at any moment, and the Trainer pieces of a resumable run.

Lightning's own ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file
lives in the system temp folder and is *moved* (a copy across file systems) without an fsync, so
a kill mid-write can leave a truncated ``last.ckpt``. :class:`AtomicCheckpointIO` writes to a
temporary file next to the target, fsyncs it, then renames it over the target: a reader sees the
old checkpoint or the new one, never half of one.

:func:`fit_kit` gives any task (pretraining, fine-tuning) the callbacks, plugins and ``ckpt_path``
of a run folder that can be resumed exactly with ``--resume``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

log = logging.getLogger(__name__)

LAST = "last.ckpt"
TMP_SUFFIX = ".tmp"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file in ``path``'s folder, fsync, then rename over ``path``:
    a kill at any moment leaves either the old file or the new one, whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder``; returns what was removed."""
    folder = Path(folder)
    stale = sorted(folder.glob(f".*{TMP_SUFFIX}")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d unfinished checkpoint file(s) in %s", len(stale), folder)
    return stale


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes each file atomically (tmp + fsync + rename).

    Pass it as ``L.Trainer(plugins=[AtomicCheckpointIO()])``; under DDP only rank 0 writes.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        atomic_torch_save(checkpoint, path)


def resume_path(out: str | Path, resume: bool) -> str | None:
    """``out/checkpoints/last.ckpt`` when resuming and it exists, else None (a fresh start).

    Raises:
        ValueError: ``last.ckpt`` exists but cannot be read (it was not written by this code).
    """
    if not resume:
        return None
    folder = Path(out) / "checkpoints"
    remove_stale_temporaries(folder)
    last = folder / LAST
    if not last.exists():
        log.warning("--resume given but %s does not exist; starting from scratch", last)
        return None
    return str(last)


@dataclass
class FitKit:
    """What a resumable ``trainer.fit`` needs: ``L.Trainer(callbacks=kit.callbacks,
    plugins=kit.plugins, use_distributed_sampler=False)`` then ``trainer.fit(..., ckpt_path=kit.ckpt_path)``."""

    callbacks: list = field(default_factory=list)
    plugins: list = field(default_factory=list)
    ckpt_path: str | None = None
    position: Any = None  # the TrainingPosition callback (skipped-video counts for the summary)


def fit_kit(out: str | Path, train_loader, *, keep: int = 3, every_n_steps: int | None = 50,
            seed: int = 0, resume: bool = False) -> FitKit:
    """Checkpointing and exact-resume machinery for a run folder.

    Writes ``out/checkpoints/last.ckpt`` every ``every_n_steps`` optimiser steps (mid-epoch) and
    at every epoch end, and keeps the last ``keep`` end-of-epoch checkpoints
    (``epoch0003.ckpt``...). All writes are atomic. The loader must come from
    :func:`skipclip.data.epoch_sampler.epoch_loader`, whose sampler can restart mid-epoch.

    Args:
        out: the run folder.
        train_loader: the training loader (its sampler and dataset are positioned on resume).
        keep: end-of-epoch checkpoints to keep.
        every_n_steps: steps between mid-epoch ``last.ckpt`` writes; None or 0 for epoch ends only.
        seed: the run's seed; each rank's random streams are seeded from (seed, rank).
        resume: continue from ``last.ckpt`` when it exists.

    Raises:
        ValueError: ``keep`` < 1 or ``every_n_steps`` < 0.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    from .resume import TrainingPosition

    if keep < 1:
        raise ValueError(f"keep must be >= 1 (checkpoints to keep), got {keep}")
    if every_n_steps is not None and every_n_steps < 0:
        raise ValueError(f"every_n_steps must be >= 0, got {every_n_steps}")
    folder = Path(out) / "checkpoints"
    epochs = ModelCheckpoint(dirpath=folder, filename="epoch{epoch:04d}", auto_insert_metric_name=False,
                             save_last=True, save_top_k=keep, monitor="epoch", mode="max", every_n_epochs=1,
                             enable_version_counter=False)  # both callbacks write the one last.ckpt
    callbacks = [epochs]
    if every_n_steps:
        callbacks.append(ModelCheckpoint(dirpath=folder, filename="step", save_last=True, save_top_k=0,
                                         every_n_train_steps=every_n_steps, enable_version_counter=False))
    position = TrainingPosition(train_loader, seed=seed)
    return FitKit(callbacks=[position, *callbacks], plugins=[AtomicCheckpointIO()],
                  ckpt_path=resume_path(out, resume), position=position)
