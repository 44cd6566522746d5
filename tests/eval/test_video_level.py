"""The paper's test protocol: sliding windows that cover a video once, softmax averaged per video."""

import numpy as np
import pytest

from skipclip.data.sampling.clips import ClipDataset, sliding_windows
from skipclip.eval.video_level import aggregate_by_video, video_accuracy, video_scores, windows_per_video

from helpers import FakeSource


@pytest.mark.parametrize("n, clip_len", [(40, 8), (41, 8), (47, 8), (16, 16), (33, 16), (7, 1)])
def test_sliding_windows_cover_every_frame_once_with_whole_windows(n, clip_len):
    starts = sliding_windows(n, clip_len)
    covered = np.concatenate([np.arange(s, s + clip_len) for s in starts])
    assert len(starts) == n // clip_len
    assert np.array_equal(covered, np.arange(len(starts) * clip_len))  # each frame once, in order
    assert covered.max() < n  # whole windows only
    assert n - len(covered) < clip_len  # what is left is less than a window


def test_short_video_gets_no_window():
    assert sliding_windows(7, 8) == []


def test_test_dataset_reads_every_window_of_every_video_once():
    lengths = [16, 23, 40, 5]
    ds = ClipDataset(FakeSource(lengths, num_classes=2), clip_len=8, crop_size=16, train=False)
    seen = {}
    for i in range(len(ds)):
        item = ds[i]
        frames = item["clip"][0, :, 0, 0].numpy().astype(int)  # T frame indices
        assert np.array_equal(frames, np.arange(frames[0], frames[0] + 8))
        seen.setdefault(item["video"], []).extend(frames.tolist())
    for v, n in enumerate(lengths[:3]):
        assert sorted(seen[v]) == list(range(n // 8 * 8))
    assert 3 not in seen and ds.too_short == ["v3"]
    assert windows_per_video(np.array([it[0] for it in ds.items])) == {
        "min": 2,
        "mean": pytest.approx(3.0),
        "max": 5,
        "total": 9,
        "videos": 3,
    }


def test_video_level_aggregation_hand_made():
    # video 7: two windows say class 0 weakly, one says class 1 strongly -> mean picks class 1
    scores = np.array(
        [
            [0.6, 0.4],
            [0.6, 0.4],
            [0.0, 1.0],  # video 7, label 1
            [0.9, 0.1],
            [0.7, 0.3],
        ]
    )  # video 2, label 0
    videos = np.array([7, 7, 7, 2, 2])
    labels = np.array([1, 1, 1, 0, 0])
    ids, mean = aggregate_by_video(scores, videos)
    assert ids.tolist() == [2, 7]
    np.testing.assert_allclose(mean, [[0.8, 0.2], [0.4, 0.6]])
    s, y = video_scores(scores, videos, labels)
    assert y.tolist() == [0, 1]
    assert video_accuracy(scores, videos, labels) == 1.0
    clip_acc = float((scores.argmax(1) == labels).mean())
    assert clip_acc == pytest.approx(3 / 5)  # majority voting of clips would miss video 7


def test_inconsistent_labels_within_a_video_are_refused():
    with pytest.raises(ValueError, match="different labels"):
        video_scores(np.ones((2, 2)), np.array([0, 0]), np.array([0, 1]))
