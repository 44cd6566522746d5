"""Features of a trained context encoder g for every video of a data set (``skipclip features``);
g comes through the weights door (:func:`skipclip.weights.load_encoder`).

A video's feature is the mean over its non-overlapping windows of g's globally pooled output,
each window centre-cropped: the clips of the paper's sliding-window test and of the linear probe,
retrieval and kNN protocols (:mod:`skipclip.eval.features`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from skipclip._version import __version__
from skipclip.config import Config, apply_overrides, apply_sets, finetune_settings, validate
from skipclip.data import Splits, VideoSource, open_data
from skipclip.engine.trainer import device_of
from skipclip.errors import InvalidInputError, OutputExistsError
from skipclip.eval.features import average_by_video, count_windows, window_features
from skipclip.models import ContextEncoder
from skipclip.models.preprocess import Preprocess
from skipclip.utils.io import atomic_write
from skipclip.utils.out_paths import check_out_file
from skipclip.utils.progress import Progress
from skipclip.weights import EncoderSource, load_encoder, preprocess_of
from skipclip.weights.exported import write_safetensors

SUFFIXES = (".npz", ".safetensors")


@dataclass
class FeatureSet:
    """One feature vector per video (and per window with ``per_window``).

    Attributes:
        features: ``(V, C)`` float32, the mean over each video's windows.
        labels: ``(V,)`` int64 class index (-1: unlabelled).
        names: ``V`` video names (paths inside the data set).
        split: ``V`` split names (``train``, ``val``, ``test``...).
        classes: class names, index = label.
        window_features, window_video, window_start: ``(W, C)`` features, ``(W,)`` row of
            ``features`` and ``(W,)`` first frame of each window, with ``per_window``; else ``None``.
        failed: unreadable videos (left out), name -> reason.
        meta: the encoder, its preprocessing, the data and the skipclip version.
    """

    features: np.ndarray
    labels: np.ndarray
    names: list[str]
    split: list[str]
    classes: list[str]
    window_features: np.ndarray | None = None
    window_video: np.ndarray | None = None
    window_start: np.ndarray | None = None
    failed: dict[str, str] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field as an array (strings as NumPy unicode, so no pickle is needed to read them)."""
        out = {
            "features": self.features,
            "labels": self.labels,
            "names": np.asarray(self.names, dtype=str),
            "split": np.asarray(self.split, dtype=str),
            "classes": np.asarray(self.classes, dtype=str),
            "meta": np.asarray(json.dumps(self.meta, default=str)),
        }
        if self.window_features is not None and self.window_video is not None and self.window_start is not None:
            out.update(
                window_features=self.window_features, window_video=self.window_video, window_start=self.window_start
            )
        return out


def _parts(splits: Splits) -> list[tuple[str, VideoSource]]:
    parts = [("train", splits.train), ("val", splits.val), ("test", splits.test)]
    if splits.labelled is not None and splits.labelled is not splits.train:
        parts.insert(2, ("labelled", splits.labelled))  # the synthetic set's few-label part
    return [(name, src) for name, src in parts if src is not None and len(src) > 0]


def default_workers() -> int:
    """The loader processes ``skipclip features`` decodes with by default: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def extract_features(
    encoder,
    data: str | Path,
    cfg: Config,
    *,
    per_window: bool = False,
    progress: bool = True,
    num_workers: int | None = None,
) -> FeatureSet:
    """Features of ``encoder`` (from :func:`load_encoder`) for every video of ``data``'s splits,
    with the encoder's ``transforms`` sizes; ``cfg`` says how to read ``data`` (layout, split).
    ``num_workers`` processes decode the videos (default :func:`default_workers`; 0: this one).

    Raises:
        InvalidInputError, InputNotFoundError: unusable data, or no readable video.
    """
    pre: Preprocess = encoder.transforms
    splits = open_data(
        data, cfg, need_test=True, val_fraction=finetune_settings(cfg).val_fraction, short_side=pre.short_side
    )
    rows, windows, offset = [], [], 0
    failed: dict[str, str] = {}
    workers = default_workers() if num_workers is None else num_workers
    for name, src in _parts(splits):
        with Progress(count_windows(src, pre.frames), f"features ({name})", "windows", enabled=progress) as bar:
            feats, videos, starts = window_features(
                encoder,
                src,
                pre.frames,
                pre.crop_size,
                pre.short_side,
                batch_size=cfg.finetune.batch_size,
                device=device_of(cfg),
                failed=failed,
                progress=bar,
                num_workers=workers,
            )
        mean, ids = average_by_video(feats, videos)
        rows += [(m, src.label(int(v)), src.name(int(v)), name) for m, v in zip(mean, ids)]
        if per_window:
            windows.append((feats, np.searchsorted(ids, videos) + offset, starts))
        offset += len(ids)
    classes = list(splits.train.classes)
    meta = {
        "encoder": str(encoder.source.file),
        "arch": encoder.source.arch,
        "width": encoder.source.width,
        "preprocess": {**dataclasses.asdict(pre), "describe": pre.describe()},
        "data": str(data),
        "skipclip_version": __version__,
        "feature": "mean over non-overlapping windows of g's pooled output",
    }
    fs = FeatureSet(
        np.stack([r[0] for r in rows]).astype(np.float32),
        np.array([r[1] for r in rows], np.int64),
        [r[2] for r in rows],
        [r[3] for r in rows],
        classes,
        failed=failed,
        meta=meta,
    )
    if per_window:
        fs.window_features = np.concatenate([w[0] for w in windows]).astype(np.float32)
        fs.window_video = np.concatenate([w[1] for w in windows]).astype(np.int64)
        fs.window_start = np.concatenate([w[2] for w in windows]).astype(np.int64)
    return fs


def check_features_out(out: str | Path, force: bool) -> Path:
    """``out`` as a features file path, checked before any work.

    Raises:
        InvalidInputError: a suffix other than ``.npz`` / ``.safetensors``.
        OutputExistsError: ``out`` exists and ``force`` is not given.
    """
    out = check_out_file(out)  # a folder, or a parent that is a file: refused before the work
    if out.suffix not in SUFFIXES:
        raise InvalidInputError(f"--out {out}: name a .npz or .safetensors file (the suffix picks the format)")
    if out.exists() and not force:
        raise OutputExistsError(f"{out} already exists; pass --force to overwrite it, or choose another --out")
    if out.is_dir():
        raise OutputExistsError(f"{out} is a folder; name a .npz or .safetensors file")
    return out


def write_features(fs: FeatureSet, out: str | Path) -> Path:
    """``fs`` to ``out`` atomically: ``.npz`` (NumPy; strings as unicode arrays, no pickle) or
    ``.safetensors`` (the arrays as tensors; names, split, classes and meta as JSON metadata)."""
    out = Path(out)
    arrays = fs.arrays()
    if out.suffix == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub reads **kwds as allow_pickle
        atomic_write(out, lambda fh: fh.write(buffer.getvalue()))
    else:
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items() if v.dtype.kind in "fi"}
        write_safetensors(
            out,
            tensors,
            {
                "names": fs.names,
                "split": fs.split,
                "classes": fs.classes,
                "meta": fs.meta,
                "format": "skipclip-features/1",
            },
        )
    return out


def run_features(
    ckpt: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    per_window: bool = False,
    force: bool = False,
    progress: bool = True,
    overrides: dict | None = None,
    sets: dict | None = None,
    num_workers: int | None = None,
) -> FeatureSet:
    """:func:`load_encoder` ``ckpt``, :func:`extract_features` of ``data``, :func:`write_features` to
    ``out``; ``overrides`` / ``sets`` (dotted keys) change how the data is read, or the sizes.

    Raises:
        OutputExistsError: ``out`` exists and ``force`` is not given (checked first).
        InvalidInputError, InputNotFoundError: see :func:`load_encoder`, :func:`extract_features`.
    """
    out = check_features_out(out, force)
    encoder = load_encoder(ckpt)
    if not isinstance(encoder, ContextEncoder) or not isinstance(encoder.source, EncoderSource):
        raise InvalidInputError(
            f"{ckpt} is a frame encoder f; features come from the context encoder g "
            "(context_encoder.safetensors, or the run's checkpoint)"
        )
    cfg = encoder.source.config
    apply_overrides(cfg, overrides or {})
    apply_sets(cfg, sets or {})
    validate(cfg)
    encoder.transforms = preprocess_of(cfg, encoder.input_stats)
    fs = extract_features(encoder, data, cfg, per_window=per_window, progress=progress, num_workers=num_workers)
    write_features(fs, out)
    return fs


__all__ = ["FeatureSet", "check_features_out", "default_workers", "extract_features", "run_features", "write_features"]
