"""Where a run's numbers go: Lightning's CSV, TensorBoard and Weights & Biases loggers (figures drawn
during training are :mod:`skipclip.viz.similarity_callback`'s).

``--logger csv`` (the default) writes ``RUN/logs/metrics.csv``; ``tensorboard`` writes event
files to ``RUN/logs/tensorboard/``; ``wandb`` writes ``RUN/logs/wandb/`` and syncs when a
``WANDB_API_KEY`` is set, offline otherwise (``wandb sync`` uploads it later). Every
``self.log`` of the modules reaches each logger as a scalar: the loss terms and the pretext
health (ranking accuracy, Kendall's tau, positive-negative gap).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from importlib.util import find_spec
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

from skipclip.engine.run_csv import RunCSVLogger
from skipclip.errors import InvalidInputError

log = logging.getLogger(__name__)

LOGGERS = ("csv", "tensorboard", "wandb")
_EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}  # name: (module, extra)


def parse_loggers(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Logger names from ``--logger`` values (repeated, or comma-separated), in order, once each;
    ``("csv",)`` when none are given.

    Raises:
        ValueError: an unknown name, or a logger whose package is not installed (naming the extra).
    """
    if values is None:
        values = ["csv"]
    elif isinstance(values, str):
        values = [values]
    names: list[str] = []
    for value in values:
        for name in (v.strip().lower() for v in value.split(",")):
            if not name:
                continue
            if name not in LOGGERS:
                raise InvalidInputError(
                    f"unknown logger {name!r}; choose from {', '.join(LOGGERS)} (several: --logger csv,tensorboard)"
                )
            if name in _EXTRAS and find_spec(_EXTRAS[name][0]) is None:
                raise InvalidInputError(
                    f"--logger {name} needs the {_EXTRAS[name][0]} package: "
                    f'pip install -e ".[{_EXTRAS[name][1]}]" in the skipclip checkout (as the README installs it), or '
                    f'pip install "skipclip[{_EXTRAS[name][1]}]"'
                )
            if name not in names:
                names.append(name)
    return tuple(names) or ("csv",)


def make_loggers(names: Sequence[str], out: str | Path, resume_step: int | None = None) -> list:
    """Lightning loggers writing under ``out/logs``, continuing an earlier attempt's logs: the CSV
    appends to ``metrics.csv`` (:mod:`~skipclip.engine.run_csv`), TensorBoard adds an event file to
    the same folder and, resumed at ``resume_step``, hides what the earlier attempt logged from
    that step on (``purge_step``: it is trained again).

    Raises:
        ValueError: as :func:`parse_loggers`.
    """
    out = Path(out)
    loggers = []
    for name in parse_loggers(list(names)):
        if name == "csv":
            loggers.append(RunCSVLogger(out))  # a resumed run appends to its metrics.csv
        elif name == "tensorboard":
            purge = {"purge_step": resume_step} if resume_step else {}
            loggers.append(TensorBoardLogger(out, name="logs", version="tensorboard", default_hp_metric=False, **purge))
        else:
            offline = not os.environ.get("WANDB_API_KEY")
            (out / "logs").mkdir(parents=True, exist_ok=True)
            loggers.append(
                WandbLogger(
                    save_dir=str(out / "logs"),
                    project=os.environ.get("WANDB_PROJECT", "skipclip"),
                    name=out.resolve().name,
                    offline=offline,
                )
            )
    return loggers


class FinishLoggers(L.Callback):
    """Close a W&B run when ``fit`` ends, so a second run in the same process starts its own
    (Lightning's ``WandbLogger`` would otherwise attach to the first)."""

    def teardown(self, trainer, pl_module, stage):
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and getattr(logger, "_experiment", None) is not None:
                logger.experiment.finish()
                logger._experiment = None


__all__ = ["LOGGERS", "FinishLoggers", "make_loggers", "parse_loggers"]
