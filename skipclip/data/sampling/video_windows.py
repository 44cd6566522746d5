"""Every non-overlapping window of a video, one item per video, decoded in one pass.

The sliding-window test and ``skipclip features`` need every window of every video. Read one
window at a time, a raw H.264 file costs a seek to the keyframe before the window and a decode
forward from it for each window: with keyframes 250 frames apart, an HD clip is decoded many
times over. :class:`VideoWindows` decodes a raw file once, front to back, and cuts the windows as
the frames come (memory: one window of frames); a store or an in-memory source is read window by
window, which is cheap there. Each window is resized and centre-cropped exactly as
:class:`~skipclip.data.sampling.clips.ClipDataset` does it in testing, so the features are those
of the per-window path. Items come out of DataLoader workers, one video each, so several videos
decode at once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from skipclip.data.failures import FAILED
from skipclip.data.sampling.clips import sliding_windows
from skipclip.data.sampling.crop_flip import random_crop_flip, resize_short_side
from skipclip.data.sources.base import VideoReadError

_RNG = np.random.default_rng(0)  # a centre crop draws nothing; random_crop_flip wants a generator


def centre_window(frames: np.ndarray, short_side: int | None, crop_size: int) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 frames to the ``(3, T, S, S)`` uint8 centre crop of the test windows
    (short side resized first, as :class:`~skipclip.data.sampling.clips.ClipDataset` does)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # T x 3 x H x W
    if short_side is not None:
        x = resize_short_side(x, short_side)
    x = random_crop_flip(x, crop_size, _RNG, train=False)  # T x 3 x S x S
    return x.permute(1, 0, 2, 3).contiguous()  # 3 x T x S x S


class VideoWindows(Dataset):
    """Item ``v``: every non-overlapping ``clip_len``-frame window of video ``v`` of ``source``,
    centre-cropped.

    Items: ``clips`` ``(W, 3, T, S, S)`` uint8, ``starts`` ``(W,)`` first frames, ``video``,
    ``ok`` (``False``: unreadable, or shorter than one window: ``clips`` is empty) and ``failed``
    (``{name: reason}`` for an unreadable video).

    A source with a ``stream(index, sink)`` method (raw files,
    :class:`~skipclip.data.sources.files.VideoFileSource`) is decoded once from the start; any
    other is read window by window.
    """

    def __init__(self, source, clip_len: int, crop_size: int, short_side: int | None = None):
        self.source, self.clip_len, self.crop_size, self.short_side = source, clip_len, crop_size, short_side

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, video: int) -> dict:
        try:
            starts = sliding_windows(self.source.num_frames(video), self.clip_len)
            clips = self._streamed(video, starts) if hasattr(self.source, "stream") else self._read(video, starts)
            failed = {}
        except VideoReadError as exc:
            starts, clips, failed = [], [], {self.source.name(video): exc.reason}
        shape = (0, 3, self.clip_len, self.crop_size, self.crop_size)
        return {
            "clips": torch.stack(clips) if clips else torch.zeros(shape, dtype=torch.uint8),
            "starts": torch.as_tensor(starts, dtype=torch.int64),
            "video": video,
            "ok": not failed and bool(clips),
            FAILED: failed,
        }

    def _read(self, video: int, starts: list[int]) -> list[torch.Tensor]:
        return [
            centre_window(self.source.read(video, range(s, s + self.clip_len)), self.short_side, self.crop_size)
            for s in starts
        ]

    def _streamed(self, video: int, starts: list[int]) -> list[torch.Tensor]:
        if not starts:
            return []
        clips: list[torch.Tensor] = []
        pending: list[np.ndarray] = []
        end = starts[-1] + self.clip_len

        def sink(frame: np.ndarray) -> None:
            if len(clips) * self.clip_len + len(pending) >= end:
                return  # the tail after the last whole window
            pending.append(frame)
            if len(pending) == self.clip_len:
                clips.append(centre_window(np.stack(pending), self.short_side, self.crop_size))
                pending.clear()

        self.source.stream(video, sink)
        if len(clips) < len(starts):
            raise VideoReadError(
                self.source.name(video),
                f"only {len(clips) * self.clip_len + len(pending)} of its "
                f"{self.source.num_frames(video)} frames decode; the file is damaged, re-copy it",
            )
        return clips


__all__ = ["VideoWindows", "centre_window"]
