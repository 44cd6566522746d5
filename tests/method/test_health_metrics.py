"""Per-window pretext metrics and their bootstrap interval (method/pretext_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skipclip.method.pretext_metrics import (
    bootstrap_interval,
    summarise,
    window_metrics,
)


def test_window_metrics_order_reverse_and_ties():
    pos = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [2.0, 3.0, 1.0]])
    acc, tau, gap = window_metrics(pos)
    assert acc.tolist() == [1.0, 0.0, 0.5, pytest.approx(2 / 3)]  # a tie is half right, not right
    assert tau.tolist() == [1.0, -1.0, 0.0, pytest.approx(1 / 3)]
    assert torch.isnan(gap).all()  # no negatives given


def test_window_metrics_gap_over_the_masked_negatives():
    pos = torch.tensor([[0.9, 0.7], [0.4, 0.2]])
    neg = torch.tensor([[0.1, 0.3, 5.0], [0.0, -0.2, 9.0]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    _, _, gap = window_metrics(pos, neg, mask)
    assert gap[0].item() == pytest.approx(0.8 - 0.2) and torch.isnan(gap[1])  # row 2: no negative
    with pytest.raises(ValueError, match="neg_mask"):
        window_metrics(pos, neg, mask[:, :2])


def test_interval_covers_the_estimate_and_shrinks_with_more_windows():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 200, 2000):
        values = rng.random(n)  # one window per video
        lo, hi = bootstrap_interval(values, np.arange(n), seed=1)
        assert lo <= values.mean() <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2] > 0
    # sqrt(n) scaling, roughly: 100x the windows, a tenth of the width
    assert widths[2] / widths[0] == pytest.approx(0.1, rel=0.35)


def test_interval_resamples_videos_not_windows():
    # 4 videos of 50 identical windows each: the windows hold no more information than the videos
    values = np.repeat([0.2, 0.4, 0.6, 0.8], 50)
    videos = np.repeat(np.arange(4), 50)
    by_video = bootstrap_interval(values, videos)
    by_window = bootstrap_interval(values, None)
    assert by_video[1] - by_video[0] > 3 * (by_window[1] - by_window[0])
    assert bootstrap_interval(values[:50], videos[:50]) == pytest.approx((0.2, 0.2))  # one video: nothing to resample


def test_summarise():
    acc = np.array([1.0, 0.5, 0.0, 1.0])
    s = summarise(acc, acc * 2 - 1, np.array([0.1, np.nan, 0.3, np.nan]), np.array([0, 0, 1, 2]))
    assert s.rank_acc == pytest.approx(0.625) and s.kendall_tau == pytest.approx(0.25)
    assert s.pos_neg_gap == pytest.approx(0.2) and s.windows == 4 and s.videos == 3
    assert s.rank_acc_ci[0] <= s.rank_acc <= s.rank_acc_ci[1]
    assert s.to_dict()["rank_acc_ci"] == list(s.rank_acc_ci)
    with pytest.raises(ValueError, match="one value per window"):
        summarise(acc, acc, acc, acc[:2])
