"""``RUN/logs/metrics.csv`` is the run's record across its attempts: a resumed run appends to it.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` when it finds one ("Previous log files in this
directory will be deleted"), so a resume kept only the resumed part of the history.
:class:`RunCSVLogger` keeps the file and its header; :func:`cut_after` drops the rows an attempt
logged after the checkpoint the run resumes from (they are trained again), so each step appears
once and in order. :class:`FlushOnCheckpoint` writes the logger's buffered rows whenever a
checkpoint is written, so a kill loses no row the checkpoint covers.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from skipclip.utils.io import atomic_write_text

METRICS = "metrics.csv"


class _ContinuingWriter(ExperimentWriter):
    """Lightning's CSV writer, minus the deletion of an earlier ``metrics.csv``: rows are appended
    under the file's header (rewritten, as Lightning does, only when a new column appears)."""

    def __init__(self, log_dir: str):
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as fh:
                self.metrics_keys = list(next(csv.reader(fh), []))

    def _check_log_dir_exists(self) -> None:  # the file is the run's record: continued, never deleted
        return None


class RunCSVLogger(CSVLogger):
    """A ``CSVLogger`` writing ``out/logs/metrics.csv`` that continues an earlier attempt's file."""

    def __init__(self, out: str | Path):
        super().__init__(out, name="logs", version="")

    @property
    def experiment(self) -> _ContinuingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


def _step(row: dict) -> int | None:
    try:
        return int(float(row.get("step", "")))
    except (TypeError, ValueError):
        return None


def cut_after(out: str | Path, step: int | None) -> int:
    """Prepare ``out/logs/metrics.csv`` for an attempt starting at optimiser step ``step``: keep
    the rows of earlier steps (``step`` ``None``: a fresh start, the file is removed, and so are
    TensorBoard's event files of the attempts before); returns the rows kept. Rewritten atomically."""
    path = Path(out) / "logs" / METRICS
    if step is None:  # an attempt that left no checkpoint: its logs go with it
        for old in [path, *sorted((Path(out) / "logs" / "tensorboard").glob("events.out.tfevents.*"))]:
            if old.is_file() or old.is_symlink():
                old.unlink()
        return 0
    if not path.is_file():
        return 0
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames or [], list(reader)
    kept = [r for r in rows if (s := _step(r)) is not None and s < step]
    if len(kept) == len(rows):
        return len(kept)
    lines = [",".join(header)]
    for r in kept:
        lines.append(",".join(_cell(r.get(k)) for k in header))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(kept)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n\r') else text


class FlushOnCheckpoint(L.Callback):
    """Write the CSV logger's buffered rows each time a checkpoint is written."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                logger.save()


__all__ = ["FlushOnCheckpoint", "RunCSVLogger", "cut_after"]
