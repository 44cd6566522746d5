"""Frozen features of the context encoder, one vector per video (sliding windows, centre crop)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from skipclip.data import ClipDataset, collate, from_batch
from skipclip.engine.trainer import device_of
from skipclip.errors import InvalidInputError
from skipclip.eval.finetune import finetune_settings
from skipclip.models.normalize import input_stats_of, normalize


@torch.no_grad()
def video_features(encoder, source, clip_len: int, crop_size: int, short_side: int | None = None,
                   batch_size: int = 32, device: str | torch.device = "cpu",
                 failed: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Global-average-pooled features of ``encoder`` over every non-overlapping window of every
    video, averaged per video, the clips standardised with the encoder's statistics
    (:func:`~skipclip.models.normalize.input_stats_of`). A video with an unreadable window is left
    out and, when ``failed`` is given, named in it (name -> reason).

    Returns:
        features ``(V, C)`` float32 and labels ``(V,)`` int64, in source order.

    Raises:
        ValueError: no video could be read.
    """

    ds = ClipDataset(source, clip_len, crop_size, short_side, train=False)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0, collate_fn=collate)
    lost: dict[str, str] = dict(ds.failed)
    bad: set[int] = set()
    was_training = encoder.training
    encoder.eval().to(device)
    stats = input_stats_of(encoder)
    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, int] = {}
    for batch in loader:
        lost.update(from_batch(batch))
        ok = batch["ok"]
        bad.update(batch["video"][~ok].tolist())
        if not ok.any():
            continue
        x = normalize(batch["clip"][ok].to(device), channel_dim=1, stats=stats)  # B x 3 x T x S x S
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


def frozen_features(cfg, encoder, *sources, failed: dict | None = None):
    """Per-video features of frozen ``encoder`` (mean over its non-overlapping windows) of each
    source, at the ``finetune`` section's clip length, crop and short side; unreadable videos are
    left out and named in ``failed``."""

    ft = finetune_settings(cfg)
    return [video_features(encoder, s, ft.clip_frames, ft.crop_size, ft.short_side, batch_size=ft.batch_size,
                           device=device_of(cfg), failed=failed) for s in sources]
