"""Pretext health over many fixed windows, with an interval and baselines (docs/pretext-health.md).

A *ranker* scores every window's reference against every target frame of a batch; the window's
own targets are its positives (their order is what rank accuracy measures), the targets of
windows of other videos its negatives (for the positive-negative gap). Three rankers besides the
model give the numbers something to be compared with:

- ``pixel``: minus the mean squared pixel difference of each target to the last context frame.
  Frames further away differ more, so this ranks well with no learning at all: the bar a learned
  ranker has to clear before it knows more than "nearer frames look alike".
- ``untrained_f``: the run's initial (untrained) frame encoder f on each target against f on the
  last context frame, scored as the model scores (Eq. 3: per-cell cosine, averaged over cells).
  What random convolutional features of a frame give for free.
- ``step0``: the run's own model (g on the context, f on the targets) before its first step:
  where training starts, near chance since g and f are unrelated random maps.

With ``d`` > 1 the reference of ``pixel`` and ``untrained_f`` is the last context frame repeated
``d`` times, so it has a target's shape.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch

from skipclip.eval.features import CachedBatches
from skipclip.eval.precise_bn import PreciseBatchNorm
from skipclip.method import losses
from skipclip.method.intervals import MIN_VIDEOS, Paired, paired_difference
from skipclip.method.pretext_metrics import (
    INTERVAL,
    RankSummary,
    summarise,
    window_metrics,
)
from skipclip.models.normalize import normalize

# batch of uint8 ``context`` (B, 3, K, S, S) and ``targets`` (B, M, d, 3, S, S), on the device ->
# the score of every window's reference against every target of the batch, (B, B*M)
Ranker = Callable[[dict], torch.Tensor]
BASELINES = ("pixel", "untrained_f", "step0")
NAMES = {"pixel": "pixels", "untrained_f": "untrained f", "step0": "step 0"}


def model_ranker(model) -> Ranker:
    """The Skip-Clip model's own score (Eq. 3): g on the context against f on the targets."""

    def rank(batch: dict) -> torch.Tensor:
        enc = model.encode(batch["context"], batch["targets"])
        return losses.score_all(enc.h, enc.z)  # B x B*M

    return rank


def _reference(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The last context frame repeated ``d`` times ``(B, 3d, S, S)`` and the target frames
    ``(B*M, 3d, S, S)``, uint8."""
    targets = batch["targets"]  # B x M x d x 3 x S x S
    d = targets.shape[2]
    last = batch["context"][:, :, -1]  # B x 3 x S x S
    return last.repeat(1, d, 1, 1), targets.flatten(0, 1).flatten(1, 2)  # B x 3d x S x S, B*M x 3d x S x S


def pixel_ranker() -> Ranker:
    """Minus the mean squared difference (pixels in [0, 1]) of each target to the last context frame."""

    def rank(batch: dict) -> torch.Tensor:
        ref, frames = _reference(batch)
        ref, frames = ref.flatten(1).float() / 255, frames.flatten(1).float() / 255  # B x D, B*M x D
        dist = torch.cdist(ref, frames, compute_mode="donot_use_mm_for_euclid_dist")  # B x B*M, exact
        return -(dist**2) / ref.shape[1]  # B x B*M

    return rank


def frame_ranker(frame_encoder) -> Ranker:
    """``frame_encoder`` on each target against itself on the last context frame, scored by Eq. 3."""

    def rank(batch: dict) -> torch.Tensor:
        ref, frames = _reference(batch)
        e = frame_encoder(normalize(torch.cat([ref, frames]), 1))  # B + B*M x C x H x W
        return losses.score_all(e[: len(ref)], e[len(ref) :])  # B x B*M

    return rank


@torch.no_grad()
def window_scores(ranker: Ranker, batches: Iterable[dict], device) -> tuple[np.ndarray, ...]:
    """Per-window rank accuracy, tau, gap and video of every readable window.

    Returns:
        four ``(N,)`` arrays (see :func:`~skipclip.method.pretext_metrics.window_metrics`).
    """
    out: list[list[np.ndarray]] = [[], [], [], []]
    for batch in batches:
        ok = batch["ok"].bool()
        if not ok.any():
            continue
        context, targets = batch["context"][ok].to(device), batch["targets"][ok].to(device)
        videos = batch["video"][ok]
        b, m = targets.shape[:2]
        s = ranker({"context": context, "targets": targets}).float()  # B x B*M
        rows = torch.arange(b, device=s.device)
        pos = s.view(b, b, m)[rows, rows]  # B x M, each window's own targets
        other = (videos[:, None] != videos[None, :]).to(s.device)  # B x B, windows of other videos
        mask = other[:, :, None].expand(-1, -1, m).reshape(b, -1)  # B x B*M
        for acc, values in zip(out, (*window_metrics(pos, s, mask), videos)):
            acc.append(values.cpu().numpy())
    return tuple(np.concatenate(v) if v else np.zeros(0) for v in out)


def measure(ranker: Ranker, batches: Iterable[dict], device, *, seed: int = 0) -> RankSummary | None:
    """The :class:`~skipclip.method.pretext_metrics.RankSummary` of a ranker over the windows
    (``None`` when no window could be read)."""
    acc, tau, gap, videos = window_scores(ranker, batches, device)
    return summarise(acc, tau, gap, videos, seed=seed) if len(acc) else None


def measure_model(model, batches: Iterable[dict], device, *, seed: int = 0) -> RankSummary | None:
    """:func:`measure` of a Skip-Clip model in eval mode (its mode restored after)."""
    was_training = model.training
    model.eval()
    try:
        return measure(model_ranker(model), batches, device, seed=seed)
    finally:
        model.train(was_training)


def measure_baselines(
    initial_model, batches: Iterable[dict], device, *, seed: int = 0, precise: PreciseBatchNorm | None = None
) -> dict[str, RankSummary]:
    """The three baselines of the module's docstring on the same windows; ``initial_model`` is the
    run's model before any step (left unchanged: a copy is moved to ``device``, its batch-norm
    statistics recomputed by ``precise`` as the trained model's are)."""
    model = copy.deepcopy(initial_model).to(device)
    if precise is not None:
        precise.apply(model, device)
    model.eval()
    found = {
        "pixel": measure(pixel_ranker(), batches, device, seed=seed),
        "untrained_f": measure(frame_ranker(model.frame_encoder), batches, device, seed=seed),
        "step0": measure(model_ranker(model), batches, device, seed=seed),
    }
    return {k: v for k, v in found.items() if v is not None}


def _finite(x):
    return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else x


def paired(model: RankSummary | None, baselines: dict[str, RankSummary]) -> dict[str, Paired]:
    """The model minus each baseline on the same windows (none where the windows differ)."""
    if model is None or model.per_window is None:
        return {}
    acc, videos = model.per_window
    found = {}
    for name, b in baselines.items():
        if b.per_window is not None and len(b.per_window[0]) == len(acc) and np.array_equal(b.per_window[1], videos):
            found[name] = paired_difference(acc, b.per_window[0], videos)
    return found


def verdict(vs: dict[str, Paired], on: str = "held_out") -> str:
    """In words: learned (above step 0 by D [lo, hi]), not shown, or cannot tell, and where the model
    stands against the free baselines (``vs`` from :func:`paired`)."""
    where = "" if on == "held_out" else "on the training sample (no held-out videos): "
    s = vs.get("step0")
    if s is None:
        return where + "cannot tell: no step-0 measurement on the same windows"
    if s.ci is None:
        return (
            where + f"cannot tell: too few held-out videos to tell ({s.videos}; {MIN_VIDEOS} or more needed), "
            f"{s.diff:+.3f} against step 0"
        )
    lo, hi = s.ci
    head = (
        f"learned: above step 0 by {s.diff:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        if lo > 0
        else f"not shown: {s.diff:+.3f} [{lo:+.3f}, {hi:+.3f}] against step 0" + (" (below it)" if hi < 0 else "")
    )
    free = []
    for name in ("pixel", "untrained_f"):
        p = vs.get(name)
        if p is not None and p.ci is not None:
            side = "above" if p.ci[0] > 0 else "below" if p.ci[1] < 0 else "not different from"
            free.append(f"{side} {NAMES[name]} ({p.diff:+.3f} [{p.ci[0]:+.3f}, {p.ci[1]:+.3f}])")
    return where + head + ("; " + ", ".join(free) if free else "")


@dataclass
class PretextHealth:
    """Pretext health of a run at one step: the model on held-out and on training windows, the
    baselines (measured once, on the held-out windows, or on the training ones without a held-out
    split) and the online kNN top-1.

    Attributes:
        step: optimiser step of the measurement.
        held_out: the model on the held-out windows (``None``: no held-out split).
        train: the model on a fixed sample of training windows.
        baselines: ``pixel``, ``untrained_f``, ``step0`` (see the module's docstring).
        baselines_on: ``"held_out"`` or ``"train"``.
        knn_top1: the last online kNN top-1 (``None``: not measured), at step ``knn_step``.
        seconds: wall time the run spent measuring all this (baselines, every validation, kNN).
        bn_stats: which batch-norm statistics the measurements read
            (:meth:`~skipclip.eval.precise_bn.PreciseBatchNorm.record`).
    """

    step: int
    held_out: RankSummary | None = None
    train: RankSummary | None = None
    baselines: dict[str, RankSummary] = field(default_factory=dict)
    baselines_on: str = "held_out"
    knn_top1: float | None = None
    knn_step: int | None = None
    seconds: float = 0.0
    bn_stats: dict = field(default_factory=dict)

    @property
    def vs(self) -> dict[str, Paired]:
        """The model minus each baseline on the windows the baselines were measured on."""
        return paired(self.held_out if self.baselines_on == "held_out" else self.train, self.baselines)

    @property
    def verdict(self) -> str:
        """:func:`verdict` of :attr:`vs`."""
        return verdict(self.vs, self.baselines_on)

    def to_dict(self) -> dict:
        """The ``health`` record of ``run.json`` (docs/pretext-health.md)."""
        h, t = self.held_out, self.train
        vs = self.vs
        return {
            "step": self.step,
            "rank_acc": h.rank_acc if h else None,
            "rank_acc_ci": [_finite(x) for x in h.rank_acc_ci] if h else None,
            "kendall_tau": h.kendall_tau if h else None,
            "pos_neg_gap": _finite(h.pos_neg_gap) if h else None,
            "windows": h.windows if h else 0,
            "videos": h.videos if h else 0,
            "train_rank_acc": t.rank_acc if t else None,
            "train_rank_acc_ci": [_finite(x) for x in t.rank_acc_ci] if t else None,
            "train_windows": t.windows if t else 0,
            "baselines": {k: v.to_dict() for k, v in self.baselines.items()},
            "baselines_on": self.baselines_on,
            "vs": {k: v.to_dict() for k, v in vs.items()},
            "verdict": verdict(vs, self.baselines_on),
            "bn_stats": self.bn_stats,
            "interval": INTERVAL,
            "knn_top1": self.knn_top1,
            "knn_step": self.knn_step,
            "seconds": round(self.seconds, 2),
        }


__all__ = [
    "BASELINES",
    "CachedBatches",
    "PretextHealth",
    "Ranker",
    "frame_ranker",
    "measure",
    "measure_baselines",
    "measure_model",
    "model_ranker",
    "paired",
    "pixel_ranker",
    "verdict",
    "window_scores",
]
