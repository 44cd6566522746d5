"""Lightning's progress, on stderr, in the form that suits the output: a tqdm bar on a terminal,
plain lines (every :data:`~skipclip.utils.progress.EVERY_S` seconds or a tenth of the run) in a
file, so a SLURM ``.out`` holds readable lines rather than thousands of carriage-return redraws."""

from __future__ import annotations

import contextlib
import sys
import time

from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar

from skipclip.utils.progress import EVERY_S, MIN_GAP_S, duration, interactive


class StderrBar(TQDMProgressBar):
    """Lightning's tqdm bar, drawn on stderr (Lightning draws on stdout), so results on stdout stay clean."""

    def init_sanity_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_sanity_tqdm()

    def init_train_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_train_tqdm()

    def init_validation_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_validation_tqdm()

    def init_test_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_test_tqdm()

    def init_predict_tqdm(self):
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_predict_tqdm()


def _metrics_text(metrics: dict, prefix: str) -> str:
    parts = []
    for k, v in metrics.items():
        if k.startswith(prefix):
            try:
                parts.append(f"{k}={float(v):.3f}")
            except (TypeError, ValueError):
                continue
    return ", ".join(parts)


class PlainProgress(ProgressBar):
    """One line on stderr every ``every_s`` seconds or ``every_n`` optimiser steps (default a tenth
    of the run), and one per validation: step, epoch, the progress-bar metrics, elapsed and left.

    Args:
        every_s: seconds between lines.
        every_n: optimiser steps between lines (``None``: a tenth of the run when its length is known).
    """

    def __init__(self, every_s: float = EVERY_S, every_n: int | None = None):
        super().__init__()
        self.every_s, self.every_n = every_s, every_n
        self._enabled = True
        self._start = self._last = 0.0
        self._next = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def _total_steps(self, trainer) -> int | None:
        if trainer.max_steps and trainer.max_steps > 0:
            return int(trainer.max_steps)
        per_epoch = trainer.num_training_batches
        if trainer.max_epochs and trainer.max_epochs > 0 and per_epoch not in (None, float("inf")):
            return int(per_epoch * trainer.max_epochs // max(1, trainer.accumulate_grad_batches))
        return None

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = self._last = time.monotonic()
        total = self._total_steps(trainer)
        self._every = self.every_n or (max(1, total // 10) if total else 50)
        self._next = trainer.global_step + self._every

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._enabled:
            return
        step, now = trainer.global_step, time.monotonic()
        since = now - self._last
        if since < self.every_s and (step < self._next or since < MIN_GAP_S):
            return
        while self._next <= step:
            self._next += self._every
        total = self._total_steps(trainer)
        text = f"step {step}" + (f"/{total}" if total else "") + f", epoch {trainer.current_epoch}"
        metrics = _metrics_text(self.get_metrics(trainer, pl_module), "train")
        text += f": {metrics}" if metrics else ""
        elapsed = now - self._start
        text += f" ({duration(elapsed)}"
        if total and step:
            text += f", ~{duration(elapsed * max(0, total - step) / step)} left"
        print(text + ")", file=sys.stderr, flush=True)
        self._last = now

    def on_validation_end(self, trainer, pl_module) -> None:
        if not self._enabled or trainer.sanity_checking:
            return
        metrics = _metrics_text(trainer.callback_metrics, "val")
        if metrics:
            print(
                f"validation at step {trainer.global_step}, epoch {trainer.current_epoch}: {metrics}",
                file=sys.stderr,
                flush=True,
            )
            self._last = time.monotonic()


def progress_callback(refresh_rate: int = 10) -> ProgressBar:
    """A tqdm bar on stderr when stderr is a terminal, else :class:`PlainProgress`."""
    return StderrBar(refresh_rate=refresh_rate) if interactive() else PlainProgress()


__all__ = ["PlainProgress", "StderrBar", "progress_callback"]
