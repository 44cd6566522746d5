"""Health windows: many fixed pretext windows per video, to measure how well a model orders the
targets (docs/pretext-health.md).

The pretext dataset's validation mode gives one window per video, so a handful of held-out videos
give a handful of windows, too few to tell a model that learned from one that did not. Here each
video gives every ``stride``-th start that fits the window, in both directions (the video as it
plays, and reversed, as training sees it with ``pretext.reverse_prob``), with a centre crop and no
flip: the same windows each time they are read, so a change in the measurement is a change in
the model. A cap keeps the cost bounded; the windows kept are spread over the videos (each video's
windows in a seeded order, taken round-robin), so a capped set still covers every video.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from skipclip.data.failures import FAILED
from skipclip.data.sampling.crop_flip import random_crop_flip, resize_short_side
from skipclip.data.sampling.window import PretextWindow
from skipclip.data.sources.base import VideoReadError, VideoSource
from skipclip.errors import InvalidInputError

HEALTH_STRIDE = 4  # frames between the starts of two health windows of a video
DIRECTIONS = (False, True)  # forward, then reversed


def health_windows(
    num_frames: int, window: PretextWindow, stride: int = HEALTH_STRIDE, directions: tuple[bool, ...] = DIRECTIONS
) -> list[tuple[int, bool]]:
    """``(start, reverse)`` of every ``stride``-th window of a video, in each direction.

    ``start`` counts in the direction of sampling (see :meth:`PretextWindow.at`); a video shorter
    than the window has none.

    Raises:
        ValueError: ``stride`` < 1 or no direction.
    """
    if stride < 1:
        raise InvalidInputError(f"health window stride must be >= 1, got {stride}")
    if not directions:
        raise InvalidInputError("health windows need at least one direction (forward False, reversed True)")
    if not window.fits(num_frames):
        return []
    return [(t, rev) for t in range(0, num_frames - window.length + 1, stride) for rev in directions]


def spread(per_video: dict[int, list[tuple[int, bool]]], cap: int | None, seed: int) -> list[tuple[int, int, bool]]:
    """At most ``cap`` windows ``(video, start, reverse)`` spread over the videos: each video's
    windows in an order drawn from ``(seed, video)``, taken one per video per round. ``None``: all.
    Consecutive windows come from different videos, so a batch holds negatives for every row."""
    orders = {}
    for v, wins in per_video.items():
        perm = np.random.default_rng((seed, v)).permutation(len(wins))
        orders[v] = [wins[i] for i in perm]
    chosen: list[tuple[int, int, bool]] = []
    for r in range(max((len(w) for w in orders.values()), default=0)):
        for v, wins in orders.items():
            if r < len(wins):
                chosen.append((v, *wins[r]))
                if cap is not None and len(chosen) >= cap:
                    return chosen
    return chosen


class HealthDataset(Dataset):
    """Fixed pretext windows of a :class:`VideoSource` (see the module's docstring).

    Items as :class:`~skipclip.data.sampling.pretext.PretextDataset`'s (uint8 ``context``
    ``(3, K, S, S)``, ``targets`` ``(M, d, 3, S, S)`` nearest first, ``video``) plus ``start``,
    ``reverse``, ``ok`` (False for a window of an unreadable video: blank frames, to be dropped)
    and ``failed`` (see :mod:`skipclip.data.failures`).

    Args:
        source: the videos.
        window: K, M, r, d.
        crop_size: side of the centre crop.
        short_side: frames are resized so their short side has this length before cropping.
        stride: frames between two starts of a video's windows.
        max_windows: at most this many windows (``None``: every one), spread over the videos.
        seed: seed of the order in which a capped set takes each video's windows.

    Raises:
        ValueError: ``max_windows`` < 1, or no video is long enough for the window.
    """

    def __init__(
        self,
        source: VideoSource,
        window: PretextWindow,
        crop_size: int,
        short_side: int | None = None,
        stride: int = HEALTH_STRIDE,
        max_windows: int | None = 256,
        seed: int = 0,
    ):
        if max_windows is not None and max_windows < 1:
            raise InvalidInputError(f"max_windows must be >= 1 (or None: every window), got {max_windows}")
        self.source, self.window, self.crop_size, self.short_side = source, window, crop_size, short_side
        self.too_short: list[str] = []
        self.failed: dict[str, str] = {}
        per_video: dict[int, list[tuple[int, bool]]] = {}
        for v in range(len(source)):
            try:
                n = source.num_frames(v)
            except VideoReadError as exc:
                self.failed[source.name(v)] = exc.reason
                continue
            wins = health_windows(n, window, stride)
            if wins:
                per_video[v] = wins
            else:
                self.too_short.append(source.name(v))
        if not per_video:
            raise InvalidInputError(
                f"none of the {len(source)} videos is long enough for the pretext window of "
                f"{window.length} frames, so there is no health window"
            )
        self.available = sum(len(w) for w in per_video.values())  # before the cap
        self.windows = spread(per_video, max_windows, seed)

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def videos(self) -> int:
        """Videos the windows come from."""
        return len({v for v, _, _ in self.windows})

    def __getitem__(self, index: int) -> dict:
        video, start, reverse = self.windows[index]
        w = self.window
        try:
            item = self._read(video, start, reverse)
            item.update(ok=True, **{FAILED: {}})
        except VideoReadError as exc:
            self.failed[self.source.name(video)] = exc.reason
            s, k, m, d = self.crop_size, w.context_frames, w.num_targets, w.target_length
            item = {
                "context": torch.zeros(3, k, s, s, dtype=torch.uint8),
                "targets": torch.zeros(m, d, 3, s, s, dtype=torch.uint8),
                "ok": False,
                FAILED: {self.source.name(video): exc.reason},
            }
        item.update(video=video, start=start, reverse=reverse)
        return item

    def _read(self, video: int, start: int, reverse: bool) -> dict:
        w = self.window
        context_idx, target_idx = w.at(self.source.num_frames(video), start, reverse)  # K, M x d
        idx = np.concatenate([context_idx, target_idx.reshape(-1)])
        frames = torch.from_numpy(np.ascontiguousarray(self.source.read(video, idx)))  # T x H x W x 3
        frames = frames.permute(0, 3, 1, 2)  # T x 3 x H x W
        if self.short_side is not None:
            frames = resize_short_side(frames, self.short_side)
        frames = random_crop_flip(frames, self.crop_size, np.random.default_rng(0), 0.0, train=False)  # centre
        k = w.context_frames
        context = frames[:k].permute(1, 0, 2, 3).contiguous()  # 3 x K x S x S
        targets = frames[k:].reshape(w.num_targets, w.target_length, *frames.shape[1:])  # M x d x 3 x S x S
        return {"context": context, "targets": targets.contiguous()}
