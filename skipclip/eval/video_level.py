"""Video-level testing (section 4.2): softmax averaged over all non-overlapping windows of a video."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader


def aggregate_by_video(clip_scores: np.ndarray, clip_videos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average clip scores per video. Returns (video ids sorted, ``(V, C)`` mean scores)."""
    videos = np.unique(clip_videos)
    index = np.searchsorted(videos, clip_videos)
    sums = np.zeros((len(videos), clip_scores.shape[1]))
    np.add.at(sums, index, clip_scores)
    counts = np.bincount(index, minlength=len(videos))[:, None]
    return videos, sums / counts


@torch.no_grad()
def video_level_predictions(model, dataset, batch_size: int = 32, device="cpu"):
    """Softmax of every window of ``dataset`` (a test :class:`ClipDataset`), averaged per video.

    Returns:
        ``(V, C)`` mean softmax, ``(V,)`` labels, and a dict of clip-level arrays.
    """
    model.eval().to(device)
    probs, videos, labels = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        logits = model(batch["clip"].to(device)).float()
        probs.append(torch.softmax(logits, 1).cpu())
        videos.append(batch["video"])
        labels.append(batch["label"])
    p = torch.cat(probs).numpy()
    v = torch.cat(videos).numpy()
    y = torch.cat(labels).numpy()
    vid, mean = aggregate_by_video(p, v)
    video_labels = np.array([y[v == i][0] for i in vid])
    return mean, video_labels, {"probs": p, "videos": v, "labels": y}
