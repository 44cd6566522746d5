"""Weighted cosine kNN (Wu et al. 2018): a hand-made feature set with hand-computed votes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skipclip.eval.knn import knn_accuracy, knn_scores

# gallery on the unit circle at 0, 10, 80, 90 and 180 degrees; classes 0, 0, 1, 1, 2
ANGLES = np.deg2rad([0, 10, 80, 90, 180])
GALLERY = np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1) * np.array([[1], [2], [3], [0.5], [4]])  # norms differ
LABELS = np.array([0, 0, 1, 1, 2])


def test_votes_are_sums_of_exp_cosine_over_temperature():
    q = np.array([[math.cos(math.radians(40)), math.sin(math.radians(40))]]) * 7  # 40 degrees
    s = knn_scores(q, GALLERY, LABELS, num_classes=3, k=3, temperature=0.5)
    # nearest 3 by cosine: 10 deg (cos 30 deg), then 0 and 80 deg (cos 40 deg each); 90 deg is at cos 50 deg
    c30, c40 = math.cos(math.radians(30)), math.cos(math.radians(40))
    expected = [math.exp(c30 / 0.5) + math.exp(c40 / 0.5), math.exp(c40 / 0.5), 0.0]
    np.testing.assert_allclose(s[0], expected, rtol=1e-12)


def test_hand_computed_accuracy_where_the_weights_overturn_the_majority():
    # query at 85 deg, k=4: 80 and 90 deg (class 1, 5 deg away) beat 10 and 0 deg (class 0): class 1, right.
    # query at 5 deg: 0 and 10 deg (class 0) beat 80 and 90 deg: class 0, right.
    # query at 170 deg, label 0: 180 deg (class 2, 10 deg away), 90 and 80 deg (class 1, 80 and 90 deg away),
    # 10 deg (class 0, 160 deg away). Class 1 has the majority (2 of 4 votes), but class 2's one vote
    # exp(cos 10 deg / T) outweighs exp(cos 80 deg / T) + exp(cos 90 deg / T): class 2, wrong.
    rad = np.deg2rad([85, 5, 170])
    q = np.stack([np.cos(rad), np.sin(rad)], 1)
    labels = np.array([1, 0, 0])
    t = 0.07
    s = knn_scores(q, GALLERY, LABELS, 3, k=4, temperature=t)
    assert s.argmax(1).tolist() == [1, 0, 2]
    assert s[2, 2] == pytest.approx(math.exp(math.cos(math.radians(10)) / t))
    assert s[2, 1] == pytest.approx(math.exp(math.cos(math.radians(80)) / t) + math.exp(0.0))
    assert s[2, 0] == pytest.approx(math.exp(math.cos(math.radians(160)) / t))
    acc = knn_accuracy(q, labels, GALLERY, LABELS, 3, k=4, temperature=t)
    assert acc["top1"] == pytest.approx(2 / 3)
    assert acc["top5"] is None  # 3 classes: every label is among the top 5, so none is reported
    # a large temperature makes the votes nearly equal: the majority (class 1) wins the third query
    assert knn_scores(q, GALLERY, LABELS, 3, k=4, temperature=100.0).argmax(1).tolist() == [1, 0, 1]
    # k=1 is the nearest neighbour alone: 170 deg -> 180 deg (class 2), wrong
    assert knn_accuracy(q, labels, GALLERY, LABELS, 3, k=1)["top1"] == pytest.approx(2 / 3)
    # k=5 adds 0 deg (class 0) to the third query: still not enough against class 2
    assert knn_accuracy(q, labels, GALLERY, LABELS, 3, k=5)["top1"] == pytest.approx(2 / 3)


def test_k_beyond_the_gallery_uses_all_of_it_and_bad_inputs_are_refused():
    q = GALLERY[:1]
    np.testing.assert_allclose(knn_scores(q, GALLERY, LABELS, 3, k=50), knn_scores(q, GALLERY, LABELS, 3, k=5))
    with pytest.raises(ValueError, match="temperature"):
        knn_scores(q, GALLERY, LABELS, 3, temperature=0)
    with pytest.raises(ValueError, match="labels must lie"):
        knn_scores(q, GALLERY, np.array([0, 0, 1, 1, -1]), 3)
    with pytest.raises(ValueError, match="dims"):
        knn_scores(np.ones((1, 3)), GALLERY, LABELS, 3)
