"""Downstream reports: one JSON of results (one row per initialisation and protocol) with a
protocol card saying exactly how they were measured, and plain-text tables of them.

Report layout::

    {"results": [{"init": ...,
                  "protocol": "finetune"|"finetune_frozen"|"linear_probe"|"retrieval"|"knn",
                  "top1": ..., "top5": ..., ...}],
     "protocol_card": {"finetune": {...}, "linear_probe": {...}, "retrieval": {...}, "knn": {...}}, ...}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from skipclip.errors import InvalidInputError
from skipclip.utils.io import atomic_write_text


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (``ddof=1``; 0 for a single value); ``None`` for values
    not measured (a top-5 with 5 classes or fewer)."""
    values = list(values)
    if values and any(v is None for v in values):
        return None, None
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def over_seeds(rows: Sequence[dict], keys: Iterable[str] = ("top1", "top5", "clip_top1")) -> dict:
    """One row from the same protocol's rows over several seeds: ``keys`` as their mean, with
    ``<key>_std`` (sample spread), ``seeds`` (how many) and ``per_seed`` (``{seed: top1}``); other
    fields from the first row.

    Raises:
        ValueError: no rows.
    """
    if not rows:
        raise InvalidInputError("no results to summarise over seeds")
    row = dict(rows[0])
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            row[key], row[f"{key}_std"] = mean_std(values)
    row["seeds"] = len(rows)
    row["per_seed"] = {str(r.get("seed")): r.get("top1") for r in rows}
    return row


def finetune_card(ft, windows: dict | None = None, model_selection: str | None = None) -> dict:
    """The fine-tuning protocol (section 4.2) as run: ``ft`` is the resolved finetune section."""
    card = {
        "model": "context encoder g + global average pooling + fully connected layer (softmax in the loss)",
        "frames": ft.clip_frames,
        "train_crop": f"random {ft.crop_size}x{ft.crop_size} crop"
        + (f" and horizontal flip (probability {ft.flip_prob:g})" if ft.flip_prob > 0 else "")
        + f" of one random {ft.clip_frames}-frame clip per video per epoch",
        "test_crop": f"centre {ft.crop_size}x{ft.crop_size}",
        "short_side": ft.short_side,
        "window_stride": ft.window_stride,
        "windows": "all whole non-overlapping windows"
        if ft.window_stride == ft.clip_frames
        else f"all whole windows, stride {ft.window_stride}",
        "score_averaging": "video accuracy: softmax averaged over every window of a video, arg-max of "
        "the mean; clip accuracy: each window on its own",
        "optimizer": f"Adam lr {ft.lr:g} x{ft.lr_gamma:g} every {ft.lr_step_epochs} epochs up to epoch "
        f"{ft.lr_last_step_epoch}, weight decay {ft.weight_decay:g}, batch {ft.batch_size}",
        "max_epochs": ft.max_epochs,
        "model_selection": model_selection
        or (
            f"weights of the epoch with the best video top-1 on the validation split (checked every "
            f"{ft.val_every} epochs); the test split is used once, at the end"
        ),
    }
    if windows is not None:
        card["windows_per_video"] = windows
    return card


def linear_card(ft, weight_decay: float) -> dict:
    return {
        "features": f"frozen g, global-average-pooled, averaged over every non-overlapping "
        f"{ft.clip_frames}-frame window (centre {ft.crop_size}x{ft.crop_size}) of a video",
        "classifier": f"softmax regression on standardised features, L-BFGS, L2 {weight_decay:g}",
        "train": "training split videos",
        "test": "test split videos, one feature vector each",
    }


def retrieval_card(ft, ks: Iterable[int]) -> dict:
    return {
        "features": f"frozen g, global-average-pooled, averaged over every non-overlapping "
        f"{ft.clip_frames}-frame window (centre {ft.crop_size}x{ft.crop_size}) of a video",
        "similarity": "cosine",
        "queries": "test videos",
        "gallery": "training videos",
        "recall_at": list(ks),
        "hit": "a training video of the query's class among the k nearest (as VCOP reports it)",
    }


def knn_card(ft, k: int, temperature: float) -> dict:
    return {
        "features": f"frozen g, global-average-pooled, averaged over every non-overlapping "
        f"{ft.clip_frames}-frame window (centre {ft.crop_size}x{ft.crop_size}) of a video",
        "similarity": "cosine",
        "queries": "test videos",
        "gallery": "training videos (labelled)",
        "k": k,
        "temperature": temperature,
        "vote": f"each of the k nearest training videos adds exp(cosine / {temperature:g}) to its class; the "
        "largest total is the prediction (Wu et al. 2018; solo-learn, DINO)",
    }


def write_report(path: str | Path, report: dict) -> Path:
    """Write ``report`` as indented JSON, atomically (a temporary file renamed over ``path``)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(report, indent=2, default=_json_default) + "\n")
    return path


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _fmt(value, std=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{100 * value:.1f}"
    return f"{text} ± {100 * std:.1f}" if std is not None else text


def results_table(results: Sequence[dict]) -> str:
    """The report's rows as a plain-text table, accuracies and recalls in % (the header says so);
    the top-5 column only where a row has one (more than 5 classes)."""
    top5 = any(r.get("top5") is not None for r in results)
    iw = max([len(str(r.get("init"))) for r in results] + [4])
    pw = max([len(str(r.get("protocol"))) for r in results] + [8])
    head = (
        f"{'init':{iw}s} {'protocol':{pw}s} {'top-1 (%)':>13s} "
        + (f"{'top-5 (%)':>13s} " if top5 else "")
        + f"{'clip top-1 (%)':>14s} {'R@10 (%)':>8s} {'seeds':>5s}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{str(r.get('init')):{iw}s} {str(r.get('protocol')):{pw}s} {_fmt(r.get('top1'), r.get('top1_std')):>13s} "
            + (f"{_fmt(r.get('top5'), r.get('top5_std')):>13s} " if top5 else "")
            + f"{_fmt(r.get('clip_top1')):>14s} {_fmt(r.get('recall', {}).get('10')):>8s} {r.get('seeds', 1):>5}"
        )
    return "\n".join(lines)


def summary_table(title: str, rows: Sequence[dict], metric: str = "top1") -> str:
    """A paper-style table: one row per method, ``metric`` as mean ± std over seeds (in %),
    plus the per-seed values."""
    width = max([len(r["name"]) for r in rows] + [24])
    top5 = any(r.get("top5_mean") is not None for r in rows)
    lines = [
        title,
        f"{'Method':{width}s} {'top-1 (%)':>13s}  " + (f"{'top-5 (%)':>13s}  " if top5 else "") + "per-seed top-1 (%)",
    ]
    for r in rows:
        per_seed = ", ".join(f"{100 * v:.1f}" for v in r["values"])
        lines.append(
            f"{r['name']:{width}s} {_fmt(r['mean'], r['std']):>13s}  "
            + (f"{_fmt(r.get('top5_mean'), r.get('top5_std')):>13s}  " if top5 else "")
            + per_seed
        )
    return "\n".join(lines)


__all__ = [
    "finetune_card",
    "knn_card",
    "linear_card",
    "mean_std",
    "over_seeds",
    "results_table",
    "retrieval_card",
    "summary_table",
    "write_report",
]
