"""Where a pretraining run's wall time goes, by Lightning's own loop parts: run any `skipclip`
command with clocks on the optimisation call (forward, backward, optimiser), the batch fetch, the
validation loop, checkpoint writes and the callback hooks, printed at exit on stderr.

    python experiments/loop_clock.py pretrain --config cpu-real --data STORE --out RUN [--set ...]

Add `--set data.prefetch=0` to see the reading in the fetch (read in turn) rather than in slower
steps (read ahead on a thread). The first step and the first fetch are printed apart: the first
backward, the first whole-video decodes and the monitoring data read on a thread at the start
make them 5-10 times a later one.
"""

from __future__ import annotations

import atexit
import collections
import statistics
import sys
import time

import lightning.pytorch.callbacks.model_checkpoint as model_checkpoint
import lightning.pytorch.loops.evaluation_loop as evaluation_loop
import lightning.pytorch.loops.fetchers as fetchers
import lightning.pytorch.loops.fit_loop as fit_loop
import lightning.pytorch.loops.optimization.automatic as automatic
import lightning.pytorch.loops.training_epoch_loop as training_epoch_loop
import lightning.pytorch.trainer.call as call
import lightning.pytorch.trainer.trainer as trainer

seconds: dict[str, list[float]] = collections.defaultdict(list)
hooks: dict[str, float] = collections.defaultdict(float)


def _clock(owner, name: str, label: str) -> None:
    inner = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            seconds[label].append(time.perf_counter() - start)

    setattr(owner, name, timed)


def _clock_hooks(name: str) -> None:
    inner = getattr(call, name)

    def timed(trainer_, hook_name, *args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(trainer_, hook_name, *args, **kwargs)
        finally:
            hooks[f"{'callback' if 'callback' in name else 'module'} {hook_name}"] += time.perf_counter() - start

    setattr(call, name, timed)


_clock(trainer.Trainer, "fit", "trainer.fit")
_clock(automatic._AutomaticOptimization, "run", "step (forward, backward, optimiser)")
_clock(fetchers._PrefetchDataFetcher, "__next__", "fetch a batch")
_clock(training_epoch_loop._TrainingEpochLoop, "advance", "training batch, all")
_clock(evaluation_loop._EvaluationLoop, "run", "validation loop (with its callbacks)")
_clock(model_checkpoint.ModelCheckpoint, "_save_checkpoint", "checkpoint write (or link)")
_clock(fit_loop._FitLoop, "on_advance_end", "epoch end")
_clock(fit_loop._FitLoop, "on_run_end", "training end")
_clock_hooks("_call_callback_hooks")
_clock_hooks("_call_lightning_module_hook")


@atexit.register
def _report() -> None:
    out = sys.stderr
    print("\nloop clock (seconds):", file=out)
    for label, times in seconds.items():
        line = f"  {label:40s} {sum(times):7.2f}  n={len(times)}"
        if len(times) > 2 and label in ("step (forward, backward, optimiser)", "fetch a batch"):
            line += f"  first {1000 * times[0]:.0f} ms, median {1000 * statistics.median(times):.1f} ms"
        print(line, file=out)
    print("  hooks over 0.1 s:", file=out)
    for label, total in sorted(hooks.items(), key=lambda kv: -kv[1]):
        if total > 0.1 and label != "module optimizer_step":
            print(f"    {label:38s} {total:7.2f}", file=out)


if __name__ == "__main__":
    from skipclip.cli import main

    sys.exit(main(sys.argv[1:]))
