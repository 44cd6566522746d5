"""Frozen features of the context encoder, one vector per video (sliding windows, centre crop)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from skipclip.data import ClipDataset, collate, from_batch
from skipclip.engine.trainer import device_of
from skipclip.errors import InvalidInputError
from skipclip.eval.finetune import finetune_settings
from skipclip.models.normalize import normalize


class CachedBatches:
    """Collated batches of a data set of fixed items (centre crops, fixed windows), read once and
    kept in memory while they fit in ``cache_bytes``: a measurement repeated every validation then
    costs the forward passes only, not the decoding. Beyond the limit they are read each time.

    Args:
        dataset: items that never change between reads (``train=False`` data sets).
        batch_size: items per batch.
        cache_bytes: most bytes of tensors kept.
        num_workers: loader worker processes for the reads (0: in this process).
    """

    def __init__(self, dataset, batch_size: int = 32, cache_bytes: int = 256 << 20, num_workers: int = 0):
        self.dataset, self.batch_size, self.cache_bytes = dataset, batch_size, cache_bytes
        self.num_workers = num_workers
        self.cached: list[dict] | None = None

    def __iter__(self):
        if self.cached is not None:
            yield from self.cached
            return
        kept: list[dict] | None = []
        size = 0
        for batch in DataLoader(self.dataset, batch_size=self.batch_size, shuffle=False,
                                num_workers=self.num_workers, collate_fn=collate):
            if kept is not None:
                size += sum(v.nbytes for v in batch.values() if isinstance(v, torch.Tensor))
                if size <= self.cache_bytes:
                    kept.append(batch)
                else:
                    kept = None
            yield batch
        self.cached = kept


@torch.no_grad()
def pooled_features(encoder, batches, source, device: str | torch.device = "cpu",
                    failed: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Global-average-pooled features of ``encoder`` over the clip batches of a
    :class:`~skipclip.data.ClipDataset` of ``source`` (``clip``, ``video``, ``ok``), averaged per
    video. A video with an unreadable window is left out and, when ``failed`` is given, named in
    it (name -> reason).

    Returns:
        features ``(V, C)`` float32 and labels ``(V,)`` int64, in source order.

    Raises:
        ValueError: no video could be read.
    """
    lost: dict[str, str] = {}
    bad: set[int] = set()
    was_training = encoder.training
    encoder.eval().to(device)
    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, int] = {}
    for batch in batches:
        lost.update(from_batch(batch))
        ok = batch["ok"]
        bad.update(batch["video"][~ok].tolist())
        if not ok.any():
            continue
        x = normalize(batch["clip"][ok].to(device), channel_dim=1)  # B x 3 x T x S x S
        feats = encoder.pooled(x).float().cpu()  # B x C
        for f, v in zip(feats, batch["video"][ok].tolist()):
            sums[v] = sums.get(v, 0) + f
            counts[v] = counts.get(v, 0) + 1
    encoder.train(was_training)
    if failed is not None:
        failed.update(lost)
    videos = sorted(set(sums) - bad)
    if not videos:
        raise InvalidInputError(f"no video of the {len(source)} could be read, e.g. {next(iter(lost.items()), ('?', '?'))}")
    x = torch.stack([sums[v] / counts[v] for v in videos]).numpy()
    y = np.array([source.label(v) for v in videos], dtype=np.int64)
    return x, y


def video_features(encoder, source, clip_len: int, crop_size: int, short_side: int | None = None,
                   batch_size: int = 32, device: str | torch.device = "cpu",
                   failed: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Global-average-pooled features of ``encoder`` over every non-overlapping window of every
    video, averaged per video (:func:`pooled_features`). A video with an unreadable window is
    left out and, when ``failed`` is given, named in it (name -> reason).

    Returns:
        features ``(V, C)`` float32 and labels ``(V,)`` int64, in source order.

    Raises:
        ValueError: no video could be read.
    """

    ds = ClipDataset(source, clip_len, crop_size, short_side, train=False)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0, collate_fn=collate)
    lost: dict[str, str] = dict(ds.failed)
    out = pooled_features(encoder, loader, source, device, lost)
    if failed is not None:
        failed.update(lost)
    return out


def frozen_features(cfg, encoder, *sources, failed: dict | None = None):
    """Per-video features of frozen ``encoder`` (mean over its non-overlapping windows) of each
    source, at the ``finetune`` section's clip length, crop and short side; unreadable videos are
    left out and named in ``failed``."""

    ft = finetune_settings(cfg)
    return [video_features(encoder, s, ft.clip_frames, ft.crop_size, ft.short_side, batch_size=ft.batch_size,
                           device=device_of(cfg), failed=failed) for s in sources]
