"""Labelled clips for downstream tasks: random clips for training, sliding windows for testing."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from skipclip.data.failures import FAILED
from skipclip.data.sampling.crop_flip import random_crop_flip, resize_short_side
from skipclip.data.sources.base import VideoReadError, VideoSource
from skipclip.errors import InvalidInputError


def sliding_windows(num_frames: int, clip_len: int, stride: int | None = None) -> list[int]:
    """Start frames of the non-overlapping (``stride`` = ``clip_len``) windows that fit whole.

    A video shorter than one window gets no window. Raises ValueError on a bad length or stride.
    """
    if clip_len < 1:
        raise InvalidInputError(f"clip_len must be >= 1, got {clip_len}")
    stride = clip_len if stride is None else stride
    if stride < 1:
        raise InvalidInputError(f"stride must be >= 1, got {stride}")
    return list(range(0, num_frames - clip_len + 1, stride))


class ClipDataset(Dataset):
    """Clips of ``clip_len`` frames with their labels and video index.

    Training (``train=True``): one random clip per video and epoch, random crop and flip.
    Testing: every non-overlapping window of every video (the paper's sliding-window test), centre
    crop; items carry ``video`` so scores can be averaged per video.

    Items: ``clip`` ``(3, T, S, S)`` uint8, ``label``, ``video``, ``ok`` and ``failed``.

    An index ``i + len(self)`` (an :class:`~skipclip.data.sampling.epoch_sampler.EpochSampler` with
    ``mark_padding``, evening out the processes' shares under DDP) is a padded repeat of window
    ``i``: in testing it comes with ``ok=False``, so no window is scored twice.

    ``windows_per_video`` keeps, in testing, at most that many of a video's windows, evenly spread
    over it (a bounded cost for a measurement repeated during training, such as the online kNN).

    An unreadable video never stops a run: it is named in ``failed`` (here, and in the items, so
    the names reach the main process from any number of loader workers, see
    :mod:`skipclip.data.failures`). Training replaces it by the next readable video; testing
    returns a blank clip with ``ok=False``, which the scoring drops along with the video's other
    windows.

    Raises:
        ValueError: no video is at least one clip long.
    """

    def __init__(
        self,
        source: VideoSource,
        clip_len: int,
        crop_size: int,
        short_side: int | None = None,
        train: bool = True,
        seed: int = 0,
        stride: int | None = None,
        flip_prob: float = 0.5,
        windows_per_video: int | None = None,
    ):
        if windows_per_video is not None and windows_per_video < 1:
            raise InvalidInputError(f"windows_per_video must be >= 1 (or None: all), got {windows_per_video}")
        self.source, self.clip_len, self.crop_size = source, clip_len, crop_size
        self.short_side, self.train, self.seed, self.flip_prob = short_side, train, seed, flip_prob
        self.epoch = 0
        self.too_short: list[str] = []
        self.failed: dict[str, str] = {}
        self.items: list[tuple[int, int]] = []  # (video, start); start -1 = random
        for v in range(len(source)):
            try:
                n = source.num_frames(v)
            except VideoReadError as exc:
                self.failed[source.name(v)] = exc.reason
                continue
            starts = sliding_windows(n, clip_len, stride)
            if not starts:
                self.too_short.append(source.name(v))
                continue
            if windows_per_video is not None and len(starts) > windows_per_video:
                starts = [starts[i] for i in np.linspace(0, len(starts) - 1, windows_per_video).round().astype(int)]
            self.items.extend([(v, -1)] if train else [(v, s) for s in starts])
        if not self.items:
            raise InvalidInputError(
                f"no video is at least one clip ({clip_len} frames) long and readable; shorten the clip"
                + (f" ({len(self.failed)} unreadable, e.g. {next(iter(self.failed))})" if self.failed else "")
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.at_epoch(index, self.epoch)

    def at_epoch(self, index: int, epoch: int) -> dict:
        """Item ``index`` of epoch ``epoch`` (a pure function of both and the seed): what
        :class:`~skipclip.data.sampling.prefetch.PrefetchLoader` reads ahead of ``set_epoch``."""
        pad = index >= len(self.items)  # a padded repeat (EpochSampler's mark_padding)
        index = index % len(self.items)
        passed: dict[str, str] = {}
        for attempt in range(len(self.items) if self.train else 1):
            j = (index + attempt) % len(self.items)
            try:
                item = self._clip(j, epoch)
                item.update(ok=not (pad and not self.train), **{FAILED: dict(passed)})
                return item
            except VideoReadError as exc:
                name = self.source.name(self.items[j][0])
                passed[name] = self.failed[name] = exc.reason
        if self.train:
            reasons = "; ".join(f"{n}: {r}" for n, r in passed.items())
            raise InvalidInputError(
                f"none of the videos of the data set could be read ({reasons[:500]}); "
                "`skipclip doctor --data DATA` lists what is wrong with each"
            )
        video = self.items[index][0]
        blank = torch.zeros(3, self.clip_len, self.crop_size, self.crop_size, dtype=torch.uint8)
        return {"clip": blank, "label": self.source.label(video), "video": video, "ok": False, FAILED: dict(passed)}

    def _clip(self, index: int, epoch: int | None = None) -> dict:
        video, start = self.items[index]
        rng = np.random.default_rng((self.seed, self.epoch if epoch is None else epoch, index))
        n = self.source.num_frames(video)
        if start < 0:
            start = int(rng.integers(0, n - self.clip_len + 1))
        frames = self.source.read(video, range(start, start + self.clip_len))  # T x H x W x 3
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # T x 3 x H x W
        if self.short_side is not None:
            x = resize_short_side(x, self.short_side)
        x = random_crop_flip(x, self.crop_size, rng, self.flip_prob, train=self.train)
        return {"clip": x.permute(1, 0, 2, 3).contiguous(), "label": self.source.label(video), "video": video}
