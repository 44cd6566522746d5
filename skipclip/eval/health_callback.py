"""A callback that measures pretext health over many fixed windows at every validation, its
baselines once per run, and an online kNN top-1 of the context encoder (docs/pretext-health.md).

Logged under ``health/`` (``rank_acc``, ``rank_acc_lo``, ``rank_acc_hi``, ``train_rank_acc``,
``baseline_<name>``) and ``knn/top1``, to every logger of the trainer; the last values form the
``health`` record of ``run.json`` (:meth:`PretextHealthMonitor.result`).

Only the global rank 0 measures (the other processes wait for it at their next collective), on
the same device as the model; nothing here changes the model, the random streams or the data
order, so a run trains the same with and without it.
"""

from __future__ import annotations

import copy
import logging
import time

import lightning as L
import numpy as np
import torch

from skipclip.data import ClipDataset, HealthDataset, MachineFaultError, PretextWindow, SubsetSource
from skipclip.errors import InvalidInputError
from skipclip.eval.features import CachedBatches, pooled_features, warm_in_turn
from skipclip.eval.knn import knn_accuracy
from skipclip.eval.precise_bn import RUNNING, PreciseBatchNorm
from skipclip.eval.pretext_health import PretextHealth, measure_baselines, measure_model

log = logging.getLogger(__name__)

KNN_MAX_VIDEOS = 1024  # most bank (and query) videos of the online kNN, spread evenly over the split
KNN_CLIPS_PER_VIDEO = 4  # most clips a video's online kNN feature averages, spread evenly over it


def is_labelled(source) -> bool:
    """Whether every video of ``source`` has a class and there are at least two classes."""
    if source is None or len(source) == 0 or len(getattr(source, "classes", [])) < 2:
        return False
    return all(0 <= source.label(i) < len(source.classes) for i in range(len(source)))


def _capped(source, most: int):
    if len(source) <= most:
        return source
    return SubsetSource(source, np.linspace(0, len(source) - 1, most).round().astype(int).tolist())


def keep_rng(device):
    """A context that restores torch's random streams (CPU, and ``device``'s when a GPU) on exit:
    each first read of a data loader draws a seed from them, and a measurement must not move
    the training's streams (a resumed run would otherwise draw differently from an uninterrupted one)."""
    device = torch.device(device)
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


class KnnProbe:
    """Weighted kNN top-1 (:func:`~skipclip.eval.knn.knn_accuracy`) of frozen g features: each
    video's feature is the mean of g's pooled output over up to ``clips_per_video`` of its
    non-overlapping centre-cropped clips of ``clip_len`` frames, evenly spread (the ``knn``
    protocol of ``skipclip evaluate`` averages all of them); the bank is the labelled split, the
    queries the held-out videos, each capped at ``max_videos``. Clips are decoded once and kept
    while they fit in ``cache_bytes``.

    Raises:
        ValueError: a split without two classes or without a label on every video.
    """

    def __init__(
        self,
        bank,
        queries,
        clip_len: int,
        crop_size: int,
        short_side: int | None,
        *,
        batch_size: int = 32,
        max_videos: int = KNN_MAX_VIDEOS,
        clips_per_video: int = KNN_CLIPS_PER_VIDEO,
        cache_bytes: int = 256 << 20,
    ):
        if not (is_labelled(bank) and is_labelled(queries)):
            raise InvalidInputError("the online kNN needs a labelled bank and labelled queries (two classes or more)")
        self.bank, self.queries = _capped(bank, max_videos), _capped(queries, max_videos)
        self.num_classes = len(bank.classes)
        self.batches = [
            CachedBatches(
                ClipDataset(s, clip_len, crop_size, short_side, train=False, windows_per_video=clips_per_video),
                batch_size,
                cache_bytes // 2,
            )
            for s in (self.bank, self.queries)
        ]

    def top1(self, encoder, device) -> float:
        (xb, yb), (xq, yq) = (
            pooled_features(encoder, b, s, device) for b, s in zip(self.batches, (self.bank, self.queries))
        )
        return knn_accuracy(xq, yq, xb, yb, self.num_classes)["top1"]


class PretextHealthMonitor(L.Callback):
    """Pretext health of the model every ``health_every`` validations, kNN every ``knn_every``
    validations, and a last measurement at the end of training when the last one came earlier;
    the baselines with the first measurement. The windows and clips are read on a background
    thread from the start of fit (the core the training step leaves idle), so a measurement costs
    its forward passes.

    Args:
        initial_model: the run's model before any step (copied here; the ``step0`` and
            ``untrained_f`` baselines are measured on the copy, then it is dropped).
        held_out: health windows of the held-out videos (``None``: no held-out split).
        train: a fixed sample of health windows of the training videos (``None``: not measured).
        knn: the online kNN (``None``: not measured).
        knn_every: validations between two kNN measurements (0: never).
        health_every: validations between two health measurements (0: at the end only).
        batch_size: windows per batch.
        seed: seed of the bootstrap intervals.
        num_workers: loader worker processes reading the windows (used while they are not cached).
        precise: recomputes batch-norm statistics on training windows before each measurement,
            on a copy of the model (and on the step-0 copy); ``None``: the running averages.

    Raises:
        ValueError: neither ``held_out`` nor ``train``, or ``knn_every`` or ``health_every`` < 0.

    Attributes:
        final_s: seconds of the measurement at the end of training (outside any validation).
    """

    def __init__(
        self,
        initial_model,
        held_out: HealthDataset | None,
        train: HealthDataset | None = None,
        knn: KnnProbe | None = None,
        knn_every: int = 1,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        health_every: int = 1,
        precise: PreciseBatchNorm | None = None,
    ):
        if held_out is None and train is None:
            raise InvalidInputError("pretext health needs held-out or training windows")
        if knn_every < 0:
            raise InvalidInputError(f"knn_every must be >= 0 (0: never), got {knn_every}")
        if health_every < 0:
            raise InvalidInputError(f"health_every must be >= 0 (0: at the end only), got {health_every}")
        self.initial = copy.deepcopy(initial_model).cpu()
        self.held_out, self.train = (
            CachedBatches(ds, batch_size, num_workers=num_workers) if ds is not None else None
            for ds in (held_out, train)
        )
        self.knn, self.knn_every, self.seed, self.precise = knn, knn_every, seed, precise
        self.health_every = health_every
        self.validations = 0
        self.final_s = 0.0
        self.health = PretextHealth(
            step=0, baselines_on="held_out" if held_out is not None else "train", bn_stats=dict(RUNNING)
        )

    @classmethod
    def from_config(cls, cfg, splits, model, precise: PreciseBatchNorm | None = None) -> "PretextHealthMonitor | None":
        """The monitor of a pretraining run: ``pretext.health_windows`` windows of ``splits.val``
        and as many of ``splits.train``, kNN every ``trainer.knn_every`` validations when
        ``splits.labelled`` and ``splits.val`` are labelled, batch-norm statistics from ``precise``;
        ``None`` when ``health_windows`` is 0."""
        cap = cfg.pretext.health_windows
        if not cap:
            return None
        w, crop, short, seed = PretextWindow.from_config(cfg), cfg.data.crop_size, splits.short_side, cfg.trainer.seed
        windows = [
            HealthDataset(s, w, crop, short, max_windows=cap, seed=seed) if s is not None and len(s) else None
            for s in (splits.val, splits.train)
        ]
        knn = None
        if cfg.trainer.knn_every and is_labelled(splits.labelled) and is_labelled(splits.val):
            try:
                knn = KnnProbe(
                    splits.labelled, splits.val, cfg.pretext.context_frames, crop, short, batch_size=cfg.data.batch_size
                )
            except InvalidInputError as exc:  # e.g. no video as long as a clip: health goes on without kNN
                log.warning("no online kNN: %s", exc)
        return cls(
            model,
            *windows,
            knn=knn,
            knn_every=cfg.trainer.knn_every,
            batch_size=cfg.data.batch_size,
            seed=seed,
            num_workers=cfg.data.num_workers,
            health_every=cfg.trainer.health_every,
            precise=precise,
        )

    def on_fit_start(self, trainer, pl_module):
        if not trainer.is_global_zero:
            self.initial = None
            return
        if not self.health.baselines:  # read while training, on the core the step leaves idle
            warm_in_turn(
                *(
                    b
                    for b in (self.held_out, self.train, *(self.knn.batches if self.knn is not None else ()))
                    if b is not None and b.num_workers == 0
                )
            )

    def _baselines(self, device) -> None:
        """The baselines, once, on the run's initial model (the copy is dropped after)."""
        if self.initial is not None:
            batches = self.held_out if self.held_out is not None else self.train
            self.health.baselines = measure_baselines(
                self.initial, batches, device, seed=self.seed, precise=self.precise
            )
        self.initial = None

    def _measure(self, trainer, pl_module, with_knn: bool, with_health: bool = True) -> dict[str, float]:
        start = time.perf_counter()
        with keep_rng(pl_module.device):
            logged = self._measure_now(trainer, pl_module, with_knn, with_health)
        self.health.seconds += time.perf_counter() - start
        return logged

    def _measure_now(self, trainer, pl_module, with_knn: bool, with_health: bool = True) -> dict[str, float]:
        h, step, device = self.health, trainer.global_step, pl_module.device
        logged: dict[str, float] = {}
        model = pl_module.model if self.precise is None else self.precise.copy_of(pl_module.model, step, device)
        if self.precise is not None:
            h.bn_stats = self.precise.record()
        if with_health:
            self._baselines(device)
            logged = self._health_now(step, model, device)
        if with_knn and self.knn is not None:
            try:
                h.knn_top1, h.knn_step = self.knn.top1(model.context_encoder, device), step
                logged["knn/top1"] = h.knn_top1
            except (InvalidInputError, MachineFaultError) as exc:  # e.g. every query video unreadable, or the
                # machine out of memory or threads (no video is called unreadable for it): training goes on
                log.warning("online kNN skipped at step %d: %s", step, exc)
        return logged

    def _health_now(self, step: int, model, device) -> dict[str, float]:
        h = self.health
        h.step = step
        logged: dict[str, float] = {}
        if self.held_out is not None:
            h.held_out = measure_model(model, self.held_out, device, seed=self.seed)
        if self.train is not None:
            h.train = measure_model(model, self.train, device, seed=self.seed)
        if h.held_out is not None:
            logged.update(
                {
                    "health/rank_acc": h.held_out.rank_acc,
                    "health/rank_acc_lo": h.held_out.rank_acc_ci[0],
                    "health/rank_acc_hi": h.held_out.rank_acc_ci[1],
                }
            )
        if h.train is not None:
            logged["health/train_rank_acc"] = h.train.rank_acc
        step0 = h.vs.get("step0")
        if step0 is not None:
            logged["health/vs_step0"] = step0.diff
            if step0.ci is not None:
                logged.update({"health/vs_step0_lo": step0.ci[0], "health/vs_step0_hi": step0.ci[1]})
        logged.update({f"health/baseline_{k}": v.rank_acc for k, v in h.baselines.items()})
        return logged

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        self.validations += 1
        if not trainer.is_global_zero:
            return
        with_knn = bool(self.knn_every) and self.validations % self.knn_every == 0
        with_health = bool(self.health_every) and self.validations % self.health_every == 0
        if not (with_knn or with_health):
            return
        for name, value in self._measure(trainer, pl_module, with_knn, with_health).items():
            pl_module.log(name, value, rank_zero_only=True)

    def on_train_end(self, trainer, pl_module):
        """The end of training (before Lightning moves the model off the device): measure again
        when the last validation came before the last step, so ``result`` is the final model's."""
        h = self.health
        if not trainer.is_global_zero:
            return
        stale_knn = self.knn is not None and self.knn_every and h.knn_step != trainer.global_step
        stale = h.step != trainer.global_step or (h.held_out is None and h.train is None) or not h.baselines
        if stale or stale_knn:
            start = time.perf_counter()
            self._measure(trainer, pl_module, with_knn=bool(stale_knn), with_health=stale)
            self.final_s = time.perf_counter() - start

    def result(self) -> PretextHealth:
        return self.health


__all__ = ["KNN_CLIPS_PER_VIDEO", "KNN_MAX_VIDEOS", "KnnProbe", "PretextHealthMonitor", "is_labelled"]
