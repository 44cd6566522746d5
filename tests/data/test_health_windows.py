"""Health windows: many fixed windows per video, both directions, inside the video, spread over
the videos when capped, read the same every time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skipclip.data import HealthDataset, PretextWindow, health_windows

from helpers import FakeSource

W = PretextWindow(context_frames=4, num_targets=3, sampling_rate=2)  # 4 + 3*2 = 10 frames


def test_every_stride_th_start_in_both_directions():
    wins = health_windows(30, W, stride=4)
    starts = sorted({t for t, _ in wins})
    assert starts == [0, 4, 8, 12, 16, 20]  # 30 - 10 = 20 is the last start that fits
    assert sorted(wins) == sorted((t, rev) for t in starts for rev in (False, True))
    assert health_windows(9, W) == []  # shorter than the window: none
    with pytest.raises(ValueError, match="stride"):
        health_windows(30, W, stride=0)


@pytest.mark.parametrize("start", [0, 7, 20])
def test_indices_inside_the_video_and_targets_after_the_context(start):
    n = 30
    for reverse in (False, True):
        context, targets = W.at(n, start, reverse)
        assert context.min() >= 0 and context.max() < n and targets.min() >= 0 and targets.max() < n
        step = -1 if reverse else 1
        # in sampling order: targets r, 2r, 3r frames after the last context frame
        assert ((targets[:, 0] - context[-1]) * step).tolist() == [2, 4, 6]
        assert (np.diff(context) * step == 1).all()
    fwd, rev = W.at(n, start), W.at(n, start, reverse=True)
    assert (rev[0] == n - 1 - fwd[0]).all() and (rev[1] == n - 1 - fwd[1]).all()
    with pytest.raises(ValueError, match="does not fit"):
        W.at(n, 21)


def test_dataset_gives_many_windows_per_video_within_the_video():
    src = FakeSource([30, 40, 9])  # the 9-frame video is too short
    ds = HealthDataset(src, W, crop_size=8, max_windows=None)
    per_video = {v: sum(1 for w in ds.windows if w[0] == v) for v in range(3)}
    assert per_video == {0: 12, 1: 16, 2: 0} and ds.too_short == ["v2"]
    assert {rev for _, _, rev in ds.windows} == {False, True}
    for i in range(len(ds)):
        item = ds[i]
        n = src.lengths[item["video"]]
        # FakeSource frames hold their index: the crop reads back which frames were read
        ctx = item["context"][0, :, 0, 0].long()  # K frame numbers
        tgt = item["targets"][:, 0, 0, 0, 0].long()  # M frame numbers
        assert item["ok"] and ctx.min() >= 0 and max(ctx.max(), tgt.max()) < n
        step = -1 if item["reverse"] else 1
        assert ((tgt - ctx[-1]) * step).tolist() == [2, 4, 6]


def test_cap_spreads_over_videos_and_reads_are_fixed():
    src = FakeSource([40] * 5, size=12)
    ds = HealthDataset(src, W, crop_size=8, max_windows=7, seed=3)
    assert len(ds) == 7 and ds.videos == 5  # every video before any video's second window
    assert [v for v, _, _ in ds.windows[:5]] == [0, 1, 2, 3, 4]
    again = HealthDataset(src, W, crop_size=8, max_windows=7, seed=3)
    assert again.windows == ds.windows
    a, b = ds[2], ds[2]
    assert torch.equal(a["context"], b["context"]) and torch.equal(a["targets"], b["targets"])
    assert a["context"].shape == (3, 4, 8, 8) and a["targets"].shape == (3, 1, 3, 8, 8)
    with pytest.raises(ValueError, match="max_windows"):
        HealthDataset(src, W, crop_size=8, max_windows=0)


class ColumnSource(FakeSource):
    """Frames whose pixel (y, x) holds x: a crop tells where it was taken and whether it was flipped."""

    def read(self, index, frames):
        row = np.arange(self.size, dtype=np.uint8)
        return np.broadcast_to(row[None, None, :, None], (len(list(frames)), self.size, self.size, 3)).copy()


def test_centre_crop_without_flip():
    ds = HealthDataset(ColumnSource([30], size=12), W, crop_size=8, max_windows=None)
    for i in range(len(ds)):  # every window, both directions: columns 2..9, left to right
        assert ds[i]["context"][0, 0, 0].tolist() == list(range(2, 10))


def test_clip_windows_per_video_are_capped_and_spread():
    from skipclip.data import ClipDataset

    src = FakeSource([40, 9], num_classes=2)  # 10 and 2 non-overlapping 4-frame windows
    every = ClipDataset(src, 4, 8, train=False)
    capped = ClipDataset(src, 4, 8, train=False, windows_per_video=3)
    assert len(every) == 12
    assert capped.items == [(0, 0), (0, 16), (0, 36), (1, 0), (1, 4)]  # first, middle, last; a short video whole
    with pytest.raises(ValueError, match="windows_per_video"):
        ClipDataset(src, 4, 8, train=False, windows_per_video=0)
