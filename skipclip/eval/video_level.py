"""Video-level testing (section 4.2): softmax averaged over all non-overlapping windows of a video,
and its typed result (:class:`VideoLevelResult`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from skipclip.config import Config, finetune_settings
from skipclip.data import ClipDataset, collate, from_batch
from skipclip.engine.trainer import device_of
from skipclip.errors import InvalidInputError
from skipclip.eval.metrics import topk_accuracy
from skipclip.utils.progress import Progress
from skipclip.utils.records import record


def aggregate_by_video(clip_scores: np.ndarray, clip_videos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average clip scores per video. Returns (video ids sorted, ``(V, C)`` mean scores)."""
    videos = np.unique(clip_videos)
    index = np.searchsorted(videos, clip_videos)
    sums = np.zeros((len(videos), clip_scores.shape[1]))
    np.add.at(sums, index, clip_scores)
    counts = np.bincount(index, minlength=len(videos))[:, None]
    return videos, sums / counts


def video_accuracy(
    clip_scores: np.ndarray, clip_videos: np.ndarray, clip_labels: np.ndarray, k: int = 1
) -> float | None:
    """Top-``k`` accuracy of per-video mean scores (the paper's sliding-window test).

    Raises:
        ValueError: the arrays disagree in length, or a video's clips carry different labels.
    """
    scores, labels = video_scores(clip_scores, clip_videos, clip_labels)
    return topk_accuracy(scores, labels, k)


def video_scores(
    clip_scores: np.ndarray, clip_videos: np.ndarray, clip_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-video mean scores ``(V, C)`` and labels ``(V,)``, videos in sorted id order.

    Raises:
        ValueError: the arrays disagree in length, or a video's clips carry different labels.
    """
    clip_videos, clip_labels = np.asarray(clip_videos), np.asarray(clip_labels)
    if not len(clip_scores) == len(clip_videos) == len(clip_labels):
        raise InvalidInputError(
            f"need one video id and label per clip score, got {len(clip_scores)} scores, "
            f"{len(clip_videos)} video ids, {len(clip_labels)} labels"
        )
    videos, mean = aggregate_by_video(clip_scores, clip_videos)
    index = np.searchsorted(videos, clip_videos)
    labels = np.full(len(videos), -1, dtype=np.int64)
    labels[index] = clip_labels
    if np.any(labels[index] != clip_labels):
        bad = videos[index[labels[index] != clip_labels][0]]
        raise InvalidInputError(f"the clips of video {bad} carry different labels")
    return mean, labels


def windows_per_video(clip_videos: np.ndarray) -> dict:
    """How many windows each video contributed: min, mean, max and the total."""
    counts = np.bincount(np.unique(clip_videos, return_inverse=True)[1])
    return {
        "min": int(counts.min()),
        "mean": float(counts.mean()),
        "max": int(counts.max()),
        "total": int(counts.sum()),
        "videos": int(len(counts)),
    }


@torch.no_grad()
def video_level_predictions(
    model, dataset, batch_size: int = 32, device="cpu", num_workers: int = 0, timeout: float = 0, progress=None
):
    """Softmax of every window of ``dataset`` (a test :class:`ClipDataset`), averaged per video;
    ``progress`` (a :class:`~skipclip.utils.progress.Progress`) counts the windows.

    Videos with an unreadable window are left out and named in ``clips["failed"]``.

    Returns:
        ``(V, C)`` mean softmax, ``(V,)`` labels, and a dict of clip-level arrays and ``failed``.

    Raises:
        ValueError: no video of ``dataset`` could be read.
    """

    model.eval().to(device)
    probs, videos, labels, oks, failed = [], [], [], [], {}
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        timeout=timeout if num_workers else 0,
        collate_fn=collate,
    )
    for batch in loader:
        failed.update(from_batch(batch))
        ok = batch.get("ok", torch.ones(len(batch["video"]), dtype=torch.bool))
        if ok.any():
            logits = model(batch["clip"][ok].to(device)).float()
            probs.append(torch.softmax(logits, 1).cpu())
        videos.append(batch["video"])
        labels.append(batch["label"])
        oks.append(ok)
        if progress is not None:
            progress.update(len(batch["video"]))
    v, y, ok = torch.cat(videos).numpy(), torch.cat(labels).numpy(), torch.cat(oks).numpy()
    keep = ~np.isin(v, v[~ok])  # every window of a video with an unreadable one is left out
    if not keep.any():
        raise InvalidInputError(
            f"none of the {len(np.unique(v))} test videos could be read, e.g. {next(iter(failed.items()), ('?', '?'))}"
        )
    p = torch.cat(probs).numpy()[keep[ok]]
    v, y = v[keep], y[keep]
    mean, video_labels = video_scores(p, v, y)
    return mean, video_labels, {"probs": p, "videos": v, "labels": y, "failed": failed}


@dataclass(frozen=True)
class VideoLevelResult:
    """The paper's test of a classifier (:func:`evaluate_video_level`).

    Attributes:
        top1, top5: video accuracy (softmax averaged over every window of a video).
        clip_top1, clip_top5: clip accuracy (each window on its own).
        test_videos: videos scored.
        windows_per_video: ``min``, ``mean``, ``max``, ``total`` windows and ``videos``.
        skipped_test_videos: test videos that could not be read.
        failed_test_videos: ``{video: reason}`` of those.
    """

    top1: float
    top5: float | None  # None with 5 classes or fewer
    clip_top1: float
    clip_top5: float | None
    test_videos: int
    windows_per_video: dict
    skipped_test_videos: int
    failed_test_videos: dict[str, str]

    def to_dict(self) -> dict:
        return record(self)


def evaluate_video_level(model, test_src, cfg: Config, progress: bool = False) -> VideoLevelResult:
    """The paper's test: centre crop, every non-overlapping window, softmax averaged per video
    (``progress`` on stderr).

    Returns:
        Video and clip top-1/top-5, the windows per video and the test videos that could not be read.
    """

    ft = finetune_settings(cfg)
    ds = ClipDataset(test_src, ft.clip_frames, ft.crop_size, ft.short_side, train=False, stride=ft.window_stride)
    with Progress(len(ds), "testing", "windows", enabled=progress) as bar:
        scores, labels, clips = video_level_predictions(
            model,
            ds,
            batch_size=ft.batch_size,
            device=device_of(cfg),
            num_workers=cfg.data.num_workers,
            timeout=cfg.data.loader_timeout,
            progress=bar,
        )
    failed = {**ds.failed, **clips["failed"]}
    return VideoLevelResult(
        topk_accuracy(scores, labels, 1),
        topk_accuracy(scores, labels, 5),
        topk_accuracy(clips["probs"], clips["labels"], 1),
        topk_accuracy(clips["probs"], clips["labels"], 5),
        int(len(labels)),
        windows_per_video(clips["videos"]),
        len(failed),
        failed,
    )
