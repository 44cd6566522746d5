"""Precise batch norm: batch-norm statistics that belong to the weights (docs/pretext-health.md).

Training keeps BatchNorm running averages with momentum 0.1, so at any step they mix the
statistics of the last few dozen weight states and lag the weights; a model read in eval mode
(pretext health, the online kNN, the linear probe, retrieval, ``skipclip features``, an export)
then normalises with statistics that do not match it. Measured on the synthetic set: ranking alone
read 0.529 held-out with the stored averages and 0.618 after recomputing them (issue 26).

:class:`PreciseBatchNorm` recomputes them, as pycls and detectron2 do: the BN layers are reset and
put in train mode with ``momentum=None`` (a cumulative average), and ``N`` fixed batches of
training windows (:class:`~skipclip.data.HealthDataset` of the training videos: centre crops, both
directions, no flip, the same windows at every call) go through g and f without gradients; every
other module stays in eval mode and the parameters are untouched. The same batches on every
process give the same statistics everywhere with no communication, so it is safe under DDP (a
``SyncBatchNorm`` is run as a plain ``BatchNorm`` here, never syncing).
"""

from __future__ import annotations

import copy
import logging
import types
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
from torch import nn

from skipclip.data import HealthDataset, PretextWindow
from skipclip.errors import InvalidInputError
from skipclip.eval.features import CachedBatches
from skipclip.utils.io import atomic_torch_save

log = logging.getLogger(__name__)

_BN = nn.modules.batchnorm._BatchNorm


def bn_layers(model: nn.Module) -> list[_BN]:
    """Every batch-norm layer of ``model`` that keeps running statistics."""
    return [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats]


def _stats(m: _BN) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``running_mean``, ``running_var``, ``num_batches_tracked`` of a layer that tracks them."""
    mean, var, count = m.running_mean, m.running_var, m.num_batches_tracked
    if mean is None or var is None or count is None:
        raise InvalidInputError(f"{type(m).__name__} keeps no running statistics")
    return mean, var, count


@torch.no_grad()
def recompute_bn(model: nn.Module, batches, num_batches: int, device) -> int:
    """Replace the running statistics of g's and f's batch norm by their cumulative average over
    the first ``num_batches`` batches of ``batches`` (each a dict of uint8 ``context``, ``targets``
    and ``ok``, as :class:`~skipclip.data.HealthDataset` gives); returns the batches used (0: the
    statistics are left as they were). The model's modes, momenta and parameters are restored.

    Raises:
        ValueError: ``num_batches`` < 1.
    """
    if num_batches < 1:
        raise InvalidInputError(f"precise batch norm needs num_batches >= 1, got {num_batches}")
    layers = bn_layers(model)
    if not layers:
        return 0
    modes = {m: m.training for m in model.modules()}
    saved = [(m.momentum, [t.clone() for t in _stats(m)]) for m in layers]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
        if isinstance(m, nn.SyncBatchNorm):  # never all-reduce: each process sees the same batches
            m.__dict__["forward"] = types.MethodType(_BN.forward, m)
    used, encoder = 0, cast(Any, model)  # a SkipClipModel
    try:
        for batch in batches:
            if used >= num_batches:
                break
            ok = batch["ok"].bool()
            if int(ok.sum()) < 2:  # a batch statistic needs two windows
                continue
            encoder.encode(batch["context"][ok].to(device), batch["targets"][ok].to(device), rotation=False)
            used += 1
    finally:
        for m, (momentum, old_stats) in zip(layers, saved):
            m.__dict__.pop("forward", None)
            m.momentum = momentum
            if not used:  # nothing read: keep the old statistics
                for buf, old in zip(_stats(m), old_stats):
                    buf.copy_(old)
        for mod, mode in modes.items():
            mod.training = mode
    return used


class PreciseBatchNorm(L.Callback):
    """Batch-norm statistics recomputed on ``num_batches`` fixed batches of training windows
    (:func:`recompute_bn`): on a copy for each measurement (:meth:`copy_of`, the training model's
    own averages untouched, so a run trains the same with it on or off), and on the model itself
    at the end of training, on every process, before ``last.ckpt`` is patched
    (:func:`write_bn_into_checkpoint`) so every reader of the weights reads these statistics.

    Args:
        windows: training windows (a :class:`~skipclip.data.HealthDataset`).
        num_batches: batches averaged.
        batch_size: windows per batch.
    """

    def __init__(self, windows, num_batches: int, batch_size: int, num_workers: int = 0):
        if num_batches < 1:
            raise InvalidInputError(f"precise batch norm needs num_batches >= 1, got {num_batches}")
        self.batches = CachedBatches(windows, batch_size, num_workers=num_workers)
        self.num_batches, self.batch_size = num_batches, batch_size
        self.used = 0
        self._copy: tuple[int, nn.Module] | None = None
        self.final_step: int | None = None

    @classmethod
    def from_config(cls, cfg, splits) -> PreciseBatchNorm | None:
        """``pretext.precise_bn_batches`` batches of ``data.batch_size`` windows of ``splits.train``
        (``None``: 0 batches, or no training video long enough for a window)."""
        n = cfg.pretext.precise_bn_batches
        if not n or splits.train is None or not len(splits.train):
            return None
        try:
            windows = HealthDataset(
                splits.train,
                PretextWindow.from_config(cfg),
                cfg.data.crop_size,
                splits.short_side,
                max_windows=n * cfg.data.batch_size,
                seed=cfg.trainer.seed,
            )
        except InvalidInputError as exc:
            log.warning("no precise batch norm: %s", exc)
            return None
        return cls(windows, n, cfg.data.batch_size, cfg.data.num_workers)

    def copy_of(self, model: nn.Module, step: int, device) -> nn.Module:
        """A copy of ``model`` with recomputed statistics (one per ``step``, reused within it)."""
        if self._copy is None or self._copy[0] != step:
            twin = copy.deepcopy(model)
            self.used = recompute_bn(twin, self.batches, self.num_batches, device)
            self._copy = (step, twin)
        return self._copy[1]

    def apply(self, model: nn.Module, device) -> int:
        """Recompute ``model``'s own statistics; returns the batches used."""
        self.used = recompute_bn(model, self.batches, self.num_batches, device)
        # the copy of the training model (copy_of) stays: recomputing another model's statistics
        # (the step-0 baselines, measured right after it) does not make it stale
        return self.used

    def on_train_end(self, trainer, pl_module):
        if self._copy is not None and self._copy[0] == trainer.global_step:
            # a measurement at this step already recomputed them on a copy of these weights: the
            # same statistics (the recomputation starts from reset ones), taken over, not computed again
            with torch.no_grad():
                for mine, theirs in zip(bn_layers(pl_module.model), bn_layers(self._copy[1])):
                    for buf, value in zip(_stats(mine), _stats(theirs)):
                        buf.copy_(value)
        else:
            self.apply(pl_module.model, pl_module.device)
        self.final_step = trainer.global_step
        self._copy = (trainer.global_step, pl_module.model)  # a measurement now reads the model itself

    def record(self) -> dict:
        """``run.json``'s ``health.bn_stats``: which statistics the measurements and the final weights hold."""
        return {
            "kind": "precise",
            "batches": self.used,
            "batch_size": self.batch_size,
            "windows": "training videos, centre crop, both directions, no flip",
        }


RUNNING = {"kind": "running", "batches": 0, "note": "training's running averages (momentum 0.1)"}


def write_bn_into_checkpoint(path: str | Path, model: nn.Module, step: int, prefix: str = "model.") -> bool:
    """Put ``model``'s batch-norm buffers into the checkpoint at ``path`` (atomically) when it holds
    the weights of ``step``; returns whether it did (a checkpoint of another step is left alone)."""
    path = Path(path)
    if not path.is_file():
        return False
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if obj.get("global_step") != step or "state_dict" not in obj:
        log.warning(
            "%s holds step %s, not the final step %d: its batch-norm statistics are the running averages",
            path,
            obj.get("global_step"),
            step,
        )
        return False
    state = obj["state_dict"]
    for name, m in model.named_modules():
        if isinstance(m, _BN) and m.track_running_stats:
            for buf in ("running_mean", "running_var", "num_batches_tracked"):
                key = f"{prefix}{name}.{buf}"
                if key in state:
                    state[key] = getattr(m, buf).detach().cpu().clone()
    atomic_torch_save(obj, path)
    return True


__all__ = ["RUNNING", "PreciseBatchNorm", "bn_layers", "recompute_bn", "write_bn_into_checkpoint"]
