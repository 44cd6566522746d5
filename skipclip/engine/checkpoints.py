"""The Trainer pieces of a resumable run: the checkpoint callbacks, whose restored state is data,
the ``last.ckpt`` a resume reads (checked first), and :func:`fit_kit`, which puts them together
with the atomic writer of :mod:`skipclip.engine.checkpoint_io`.

:func:`fit_kit` gives any task (pretraining, fine-tuning) the callbacks, plugins and ``ckpt_path``
of a run folder that can be resumed exactly with ``--resume``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from skipclip.engine.checkpoint_io import LAST, AtomicCheckpointIO, inside
from skipclip.engine.resume import TrainingPosition
from skipclip.errors import InvalidInputError
from skipclip.weights.read import read_checkpoint

log = logging.getLogger(__name__)


def _score(value) -> torch.Tensor | None:
    """A checkpoint's monitored score as a 0-d float tensor, or None when it is not one. The epoch
    callback monitors ``epoch``, an integer tensor: kept too (dropped, a resumed run forgot the
    epoch checkpoints written before it and never pruned them)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        if value.is_floating_point():
            return value.detach().reshape(())
        if not value.is_complex():
            return value.detach().reshape(()).to(torch.float64)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return torch.tensor(float(value))
        except OverflowError:  # an integer beyond any float
            return None
    return None


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` whose restored state is data, never a path to act on.

    A checkpoint's callback state names files the callback later deletes (older epochs, the
    previous ``last``). Lightning restores those names as written and checks them by comparing
    text, which ``..`` defeats. Here only the fields skipclip needs are restored, each path is
    resolved and kept only when it names a ``.ckpt`` file inside this callback's folder; anything
    else is dropped with a warning (the run goes on; at worst an old checkpoint is kept).
    """

    #: the fewest optimiser steps between two of this callback's writes before the run's last step
    #: (0: at every epoch end or validation, as Lightning does)
    min_steps: int = 0

    def _should_skip_saving_checkpoint(self, trainer) -> bool:
        if super()._should_skip_saving_checkpoint(trainer):
            return True
        if not self.min_steps or run_ends_here(trainer):
            return False
        return trainer.global_step - self._last_global_step_saved < self.min_steps

    def on_train_end(self, trainer, pl_module) -> None:
        # Lightning writes last.ckpt at the end of training when this callback has not written it
        # in this process. The other checkpoint callback may have written it at this very step (the
        # epoch callback, after the last validation); written again now, after the epoch's end, it
        # holds a state Lightning resumes an epoch off, so an extension would train other batches
        if any(
            getattr(cb, "_last_global_step_saved", None) == trainer.global_step for cb in trainer.checkpoint_callbacks
        ):
            return
        super().on_train_end(trainer, pl_module)

    def _safe_path(self, value, field_name: str) -> str:
        if value in ("", None):
            return ""
        if (
            isinstance(value, str)
            and value.endswith(".ckpt")
            and inside(value, self.dirpath)
            and Path(value).resolve().parent == Path(self.dirpath).resolve()
        ):
            return str(Path(self.dirpath) / Path(value).name)
        log.warning(
            "checkpoint state field %s=%r is not a checkpoint file in %s; ignored",
            field_name,
            value if isinstance(value, str) else type(value).__name__,
            self.dirpath,
        )
        return ""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            log.warning("checkpoint callback state is a %s, not a dict; ignored", type(state_dict).__name__)
            return
        same_folder = (
            isinstance(state_dict.get("dirpath"), str)
            and self.dirpath is not None
            and inside(state_dict["dirpath"], self.dirpath)
            and inside(self.dirpath, state_dict["dirpath"])
        )
        self.best_model_path = self._safe_path(state_dict.get("best_model_path"), "best_model_path")
        if not same_folder:
            return  # a run folder moved or a foreign state: start the bookkeeping afresh
        self.best_model_score = _score(state_dict.get("best_model_score"))
        self.kth_value = (
            _score(state_dict.get("kth_value")) if state_dict.get("kth_value") is not None else self.kth_value
        )
        self.kth_best_model_path = self._safe_path(state_dict.get("kth_best_model_path"), "kth_best_model_path")
        self.last_model_path = self._safe_path(state_dict.get("last_model_path"), "last_model_path")
        best = state_dict.get("best_k_models")
        kept = {}
        if isinstance(best, dict):
            for path, score in best.items():
                safe, value = self._safe_path(path, "best_k_models"), _score(score)
                if safe and value is not None:
                    kept[safe] = value
        self.best_k_models = kept


def run_ends_here(trainer) -> bool:
    """Whether the training stops after this step: a stop asked for (time budget, early
    stopping), the step budget reached, or the last batch of the last epoch."""
    if trainer.should_stop:
        return True
    max_steps = trainer.max_steps
    if max_steps is not None and max_steps >= 0 and trainer.global_step >= max_steps:
        return True
    max_epochs = trainer.max_epochs
    last_epoch = max_epochs is not None and max_epochs >= 0 and trainer.current_epoch + 1 >= max_epochs
    return bool(last_epoch and trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def validates_after(trainer, batch_idx: int) -> bool:
    """Whether Lightning validates right after this training batch (its own rule: every
    ``val_check_batch`` batches, counted across epochs under a step budget)."""
    if not getattr(trainer, "enable_validation", False):
        return False
    n = trainer.num_val_batches
    if not (sum(n) if isinstance(n, list) else n):
        return False
    every = trainer.check_val_every_n_epoch
    if every is not None and (trainer.current_epoch + 1) % every:
        return False
    loop = trainer.fit_loop.epoch_loop
    interval = trainer.val_check_batch
    if interval is None or interval == float("inf"):
        return bool(loop.batch_progress.is_last_batch)
    done = loop.total_batch_idx if every is None else batch_idx
    return (done + 1) % interval == 0


class StepCheckpoint(RunCheckpoint):
    """The every-N-steps ``last.ckpt``, not written at a step that a validation follows: the
    epoch callback writes that step's checkpoint after the validation. Written before it, a resume
    would continue past a validation Lightning then skips, and the run's record (the validation
    rows of ``metrics.csv``, the health curve) would lack it."""

    @property
    def state_key(self) -> str:  # the state of runs written before this class existed still loads
        return super().state_key.replace(type(self).__qualname__, RunCheckpoint.__qualname__, 1)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if validates_after(trainer, batch_idx):
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


def resume_path(out: str | Path, resume: bool) -> str | None:
    """``out/checkpoints/last.ckpt`` when resuming and it exists, else None (a fresh start).

    ``last.ckpt`` is read once through :func:`read_checkpoint` (tensors only) before Lightning
    sees it, so a crafted or foreign file is a clear error, not code run or a traceback.

    Raises:
        UnsafeCheckpointError: ``last.ckpt`` holds pickled objects (never loaded).
        ValueError: ``last.ckpt`` exists but is not a training checkpoint of this code.
    """
    if not resume:
        return None
    last = Path(out) / "checkpoints" / LAST  # temporaries a killed writer left: start_run removes them, under the lock
    if not last.exists():
        log.warning("--resume given but %s does not exist; starting from scratch", last)
        return None
    obj = read_checkpoint(last)
    missing = [k for k in RESUME_KEYS if k not in obj]
    if missing:
        raise InvalidInputError(
            f"{last} is not a training checkpoint written by `skipclip pretrain` (no {', '.join(missing)}); "
            "--resume cannot continue from it. Move it away to start afresh, or use --force"
        )
    return str(last)


RESUME_KEYS = ("state_dict", "optimizer_states", "loops")


@dataclass
class FitKit:
    """What a resumable ``trainer.fit`` needs: ``L.Trainer(callbacks=kit.callbacks,
    plugins=kit.plugins, use_distributed_sampler=False)`` then ``trainer.fit(..., ckpt_path=kit.ckpt_path)``."""

    callbacks: list = field(default_factory=list)
    plugins: list = field(default_factory=list)
    ckpt_path: str | None = None
    position: Any = None  # the TrainingPosition callback (skipped-video counts for the summary)


def fit_kit(
    out: str | Path,
    train_loader,
    *,
    keep: int = 3,
    every_n_steps: int | None = 50,
    seed: int = 0,
    resume: bool = False,
    save_on_train_epoch_end: bool | None = None,
) -> FitKit:
    """Checkpointing and exact-resume machinery for a run folder.

    Writes ``out/checkpoints/last.ckpt`` every ``every_n_steps`` optimiser steps (mid-epoch) and
    at epoch ends (after their validation) at least ``every_n_steps`` steps after the previous
    epoch checkpoint, always at the last step, and keeps the last ``keep`` end-of-epoch
    checkpoints (``epoch0003.ckpt``...). Short epochs validated often (``cpu-real``: a validation
    every 15 steps) are thus not each followed by a write of the 34 MB checkpoint. All writes are
    atomic. The loader must come from :func:`skipclip.data.sampling.epoch_sampler.epoch_loader`,
    whose sampler can restart mid-epoch.

    Args:
        out: the run folder.
        train_loader: the training loader (its sampler and dataset are positioned on resume).
        keep: end-of-epoch checkpoints to keep.
        every_n_steps: steps between mid-epoch ``last.ckpt`` writes, and the fewest between two epoch
            checkpoints before the last step; None or 0 for every epoch end (and no mid-epoch writes).
        seed: the run's seed; each rank's random streams are seeded from (seed, rank).
        resume: continue from ``last.ckpt`` when it exists.
        save_on_train_epoch_end: write the epoch checkpoint at each epoch end, after that epoch's
            validation (``True``; needed when validation runs only every few epochs), or let
            Lightning choose (``None``).

    Raises:
        ValueError: ``keep`` < 1 or ``every_n_steps`` < 0.
    """

    if keep < 1:
        raise InvalidInputError(f"keep must be >= 1 (checkpoints to keep), got {keep}")
    if every_n_steps is not None and every_n_steps < 0:
        raise InvalidInputError(f"every_n_steps must be >= 0, got {every_n_steps}")
    folder = Path(out) / "checkpoints"
    epochs = RunCheckpoint(
        dirpath=folder,
        filename="epoch{epoch:04d}",
        auto_insert_metric_name=False,
        save_last=True,
        save_top_k=keep,
        monitor="epoch",
        mode="max",
        every_n_epochs=1,
        enable_version_counter=False,  # both callbacks write the one last.ckpt
        save_on_train_epoch_end=save_on_train_epoch_end,
    )
    epochs.min_steps = every_n_steps or 0
    callbacks = [epochs]
    if every_n_steps:
        callbacks.append(
            StepCheckpoint(
                dirpath=folder,
                filename="step",
                save_last=True,
                save_top_k=0,
                every_n_train_steps=every_n_steps,
                enable_version_counter=False,
            )
        )
    position = TrainingPosition(train_loader, seed=seed)
    return FitKit(
        callbacks=[position, *callbacks],
        plugins=[AtomicCheckpointIO(root=folder)],
        ckpt_path=resume_path(out, resume),
        position=position,
    )
