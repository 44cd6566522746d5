"""The intervals of pretext health cover what they claim (method/intervals.py): a simulation of
held-out windows clustered by video, at 6, 9 and 30 videos, against a nominal 95 %."""

from __future__ import annotations

import numpy as np
import pytest

from skipclip.method.intervals import MIN_VIDEOS, cluster_t_interval, paired_difference, t_quantile
from skipclip.method.pretext_metrics import bootstrap_interval

TRUE = 0.05  # the mean paired difference every simulated run estimates


def simulated_run(rng, videos: int, windows: int = 256, spread: float = 0.06, noise: float = 0.2):
    """Per-window paired differences of one run: each video its own true difference (normal around
    TRUE), a varying number of windows per video (as a capped health set gives), window noise."""
    per = windows / videos
    n = rng.integers(max(1, int(per * 0.6)), int(per * 1.4) + 2, size=videos)
    effect = TRUE + spread * rng.normal(size=videos)
    groups = np.repeat(np.arange(videos), n)
    return effect[groups] + noise * rng.normal(size=len(groups)), groups


def coverage(interval, videos: int, runs: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        values, groups = simulated_run(rng, videos)
        lo, hi = interval(values, groups)
        hits += lo <= TRUE <= hi
    return hits / runs


@pytest.mark.parametrize("videos", [6, 9, 30])
def test_cluster_t_covers_at_least_93_percent(videos):
    assert coverage(cluster_t_interval, videos, runs=2000, seed=videos) >= 0.93


def test_the_same_simulation_fails_the_percentile_bootstrap():
    # the check can fail: the interval used before (percentile cluster bootstrap) covers ~86 % at 6 videos
    boot = coverage(lambda v, g: bootstrap_interval(v, g, resamples=500, seed=0), 6, runs=600, seed=6)
    assert boot < 0.9


def test_t_quantiles_match_the_tables():
    for df, q in ((1, 12.706), (2, 4.303), (5, 2.571), (8, 2.306), (29, 2.045)):
        assert t_quantile(0.95, df) == pytest.approx(q, abs=1e-3)


def test_cluster_t_with_equal_windows_is_the_t_interval_of_video_means():
    rng = np.random.default_rng(1)
    means = rng.normal(size=5)
    values, groups = np.repeat(means, 4) + np.tile([-0.1, 0.1, -0.2, 0.2], 5), np.repeat(np.arange(5), 4)
    half = t_quantile(0.95, 4) * means.std(ddof=1) / np.sqrt(5)
    assert cluster_t_interval(values, groups) == pytest.approx((means.mean() - half, means.mean() + half))
    assert all(np.isnan(cluster_t_interval(values[:4], groups[:4])))  # one video: no interval


def test_paired_difference_needs_three_videos_and_the_same_windows():
    a, b = np.array([0.6, 0.7, 0.8, 0.9]), np.array([0.5, 0.5, 0.5, 0.5])
    few = paired_difference(a, b, np.array([0, 0, 1, 1]))
    assert few.diff == pytest.approx(0.25) and few.ci is None and few.videos == 2 < MIN_VIDEOS
    enough = paired_difference(a, b, np.array([0, 1, 2, 2]))
    assert enough.ci is not None and enough.ci[0] <= enough.diff <= enough.ci[1]
    with pytest.raises(ValueError, match="same windows"):
        paired_difference(a, b[:3], np.array([0, 1, 2, 2]))
