"""The built-in synthetic videos: deterministic, labelled, with a canonical up and class motions."""

import numpy as np
import pytest

from skipclip.data.sources.synthetic import CLASSES, SyntheticSource, object_state, video_params


def test_deterministic_and_random_access():
    a = SyntheticSource(4, 3, frames=20, size=32, seed=5)
    b = SyntheticSource(4, 3, frames=20, size=32, seed=5)
    whole = a.read(7, range(20))
    assert whole.shape == (20, 32, 32, 3) and whole.dtype == np.uint8
    assert np.array_equal(whole, b.read(7, range(20)))
    assert np.array_equal(a.read(7, [13, 2]), whole[[13, 2]])  # any frame, any order
    assert not np.array_equal(whole, SyntheticSource(4, 3, 20, 32, seed=6).read(7, range(20)))


def test_labels_names_and_disjoint_offsets():
    s = SyntheticSource(5, 4, frames=8, size=32)
    assert len(s) == 20 and s.classes == list(CLASSES[:5])
    assert [s.label(i) for i in range(10)] == [0, 1, 2, 3, 4] * 2
    assert s.name(6) == "SlideLeft/v_SlideLeft_g02_c01"
    other = SyntheticSource(5, 4, frames=8, size=32, offset=20)
    assert not set(map(s.name, range(20))) & set(map(other.name, range(20)))


def test_canonical_up_sky_is_brighter_than_ground():
    s = SyntheticSource(8, 2, frames=4, size=48)
    for i in range(len(s)):
        f = s.read(i, [0])[0].astype(float)
        assert f[:8].mean() > f[-8:].mean()


@pytest.mark.parametrize(
    "name,axis,sign", [("SlideRight", 0, 1), ("SlideLeft", 0, -1), ("Rise", 1, -1), ("Fall", 1, 1)]
)
def test_one_way_motion_directions(name, axis, sign):
    label = CLASSES.index(name)
    moved = []
    for seed in range(5):
        p = video_params(seed, label, len(CLASSES))
        a, b = object_state(p, 10.0), object_state(p, 11.0)
        moved.append(np.sign(b[axis] - a[axis]))
    assert moved.count(sign) >= 4  # (wrap-around may flip one)


def test_spin_directions_and_zoom():
    cw = video_params(0, CLASSES.index("SpinClockwise"), len(CLASSES))
    ccw = video_params(0, CLASSES.index("SpinCounterClockwise"), len(CLASSES))
    assert object_state(cw, 5)[2] > object_state(cw, 4)[2]
    assert object_state(ccw, 5)[2] < object_state(ccw, 4)[2]


def test_frames_out_of_range_raise():
    from skipclip.data.sources.base import VideoReadError

    with pytest.raises(VideoReadError, match="out of range"):
        SyntheticSource(2, 1, frames=5, size=32).read(0, [5])


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        SyntheticSource(num_classes=11)
