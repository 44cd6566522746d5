"""Training budgets: how long a run trains (optimiser steps or epochs, capped by wall time) and how
often it validates.

A preset's length in optimiser steps fits any data size: 44 clips and 4 000 clips get the same
number of updates, where an epoch count gives the small set almost none. Epochs stay the
alternative (``max_steps: null``), and the demo and the paper's schedule use them.

Under a step budget the epoch-based learning-rate schedules keep their shape over the run: a
*nominal epoch* lasts ``max_steps / max_epochs`` steps, so "x0.5 every 10 of 30 epochs" halves the
rate at a third and two thirds of the steps, whatever the data size. Validation then runs every
``val_every_steps`` steps (Lightning's ``val_check_interval`` across epoch boundaries), so a small
set does not spend its time validating, and model selection (:class:`~.callbacks.KeepBest`) picks
the best of those validations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from skipclip.errors import InvalidInputError
from skipclip.utils.records import record

# validations over a step budget when the preset does not say (model selection, health curves)
DEFAULT_VALIDATIONS = 10


@dataclass(frozen=True)
class BudgetUsed:
    """What a run used of its :class:`Budget`, and what stopped it (the ``budget`` record of
    ``run.json``'s summary and of fine-tuning's history).

    Attributes:
        budget: the budget as text (:meth:`Budget.describe`).
        max_steps: the budget's optimiser steps (``None``: an epoch budget).
        max_epochs: its epochs, or the schedule's nominal epochs under a step budget.
        time_budget_min: its wall-time cap in minutes (``None``: none).
        steps: optimiser steps trained.
        epochs: the trainer's epoch count at the end.
        stopped_by: ``"max_steps"``, ``"max_epochs"``, ``"time_budget"`` or ``"interrupted"``.
    """

    budget: str
    max_steps: int | None
    max_epochs: int
    time_budget_min: float | None
    steps: int
    epochs: int
    stopped_by: str

    def to_dict(self) -> dict:
        return record(self)


@dataclass
class Budget:
    """One run's budget.

    Attributes:
        max_steps: optimiser steps; ``None``: train ``max_epochs`` epochs.
        max_epochs: epochs (without ``max_steps``), or the schedule's nominal epochs (with it).
        val_every_steps: steps between validations under a step budget.
        val_every_epochs: epochs between validations under an epoch budget.
        minutes: wall-time cap (``None``: none).
    """

    max_steps: int | None
    max_epochs: int
    val_every_steps: int | None = None
    val_every_epochs: int = 1
    minutes: float | None = None

    @property
    def schedule_epoch_steps(self) -> float | None:
        """Steps per nominal schedule epoch under a step budget; ``None`` under epochs."""
        return self.max_steps / self.max_epochs if self.max_steps else None

    def trainer_kwargs(self) -> dict:
        """The keyword arguments of :func:`~.trainer.make_trainer` that set length and validation."""
        if self.max_steps:
            return {
                "max_epochs": -1,
                "max_steps": self.max_steps,
                "val_every_steps": self.val_every_steps,
                "max_minutes": self.minutes,
            }
        return {
            "max_epochs": self.max_epochs,
            "check_val_every_n_epoch": self.val_every_epochs,
            "max_minutes": self.minutes,
        }

    def describe(self) -> str:
        """``"600 steps (validation every 60), at most 10 min"``-style text for progress lines."""
        n, unit = (self.max_steps, "step") if self.max_steps else (self.max_epochs, "epoch")
        every = self.val_every_steps if self.max_steps else self.val_every_epochs
        text = f"{n} {unit}{'' if n == 1 else 's'} (validation every {every})"
        return text + (f", at most {self.minutes:g} min" if self.minutes else "")

    def used(self, trainer, wall_s: float) -> BudgetUsed:
        """What the run used of the budget, and what stopped it, for summaries and reports."""
        steps, epochs = int(trainer.global_step), int(trainer.current_epoch)
        if self.max_steps and steps >= self.max_steps:
            stopped = "max_steps"
        elif not self.max_steps and epochs >= self.max_epochs:
            stopped = "max_epochs"
        elif self.minutes and wall_s >= 60 * self.minutes * 0.95:
            stopped = "time_budget"
        else:
            stopped = "interrupted"
        return BudgetUsed(self.describe(), self.max_steps, self.max_epochs, self.minutes, steps, epochs, stopped)


def make_budget(
    max_steps, max_epochs: int, val_every_steps=None, val_every_epochs: int = 1, minutes: float | None = None
) -> Budget:
    """A :class:`Budget`, with ``val_every_steps`` defaulting to a tenth of the steps.

    Raises:
        ValueError: a non-positive step count, epoch count, interval or time budget.
    """
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise InvalidInputError(f"max_steps must be null (count epochs) or an integer >= 1, got {max_steps!r}")
    if not isinstance(max_epochs, int) or max_epochs < 1:
        raise InvalidInputError(f"max_epochs must be an integer >= 1, got {max_epochs!r}")
    if val_every_steps is not None and (not isinstance(val_every_steps, int) or val_every_steps < 1):
        raise InvalidInputError(
            f"val_every_steps must be null (a tenth of the steps) or an integer >= 1, got {val_every_steps!r}"
        )
    if minutes is not None and minutes <= 0:
        raise InvalidInputError(f"the time budget must be > 0 minutes, got {minutes!r}")
    if max_steps and val_every_steps is None:
        val_every_steps = max(1, math.ceil(max_steps / DEFAULT_VALIDATIONS))
    if max_steps and val_every_steps > max_steps:  # a budget cut below the interval still validates once
        val_every_steps = max_steps
    return Budget(max_steps, max_epochs, val_every_steps if max_steps else None, val_every_epochs, minutes)


def pretrain_budget(cfg) -> Budget:
    """The pretraining budget of ``cfg`` (``optim`` section, ``trainer.time_budget_min``)."""
    o = cfg.optim
    return make_budget(o.max_steps, o.max_epochs, o.val_every_steps, 1, cfg.trainer.time_budget_min)


def finetune_budget(cfg, epochs: int | None = None) -> Budget:
    """The fine-tuning budget of ``cfg`` (``finetune`` section); ``epochs`` forces an epoch budget
    (library callers such as the demo and ``reproduce``)."""
    f = cfg.finetune
    if epochs is not None:
        return make_budget(None, epochs, None, f.val_every, cfg.trainer.time_budget_min)
    return make_budget(f.max_steps, f.max_epochs, f.val_every_steps, f.val_every, cfg.trainer.time_budget_min)
