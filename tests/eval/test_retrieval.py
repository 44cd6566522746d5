"""Nearest-neighbour retrieval recall on hand-made features."""

import numpy as np
import pytest

from skipclip.eval.retrieval import retrieval_recall


def test_recall_hand_made():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.2]])
    gallery_labels = np.array([0, 1, 2, 0])
    queries = np.array(
        [
            [2.0, 0.1],  # nearest: g0 (class 0) -> hit at 1
            [0.1, 3.0],  # nearest: g1 (class 1), but label 2: g2 is 2nd -> hit at 2
            [-1.0, 0.0],
        ]
    )  # order g3 (cos .98), g1 (0), g2 (-.71), g0 (-1); label 2 -> hit at 3
    labels = np.array([0, 2, 2])
    r = retrieval_recall(queries, labels, gallery, gallery_labels, ks=(1, 2, 3, 50))
    assert r == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3), 3: pytest.approx(1.0), 50: pytest.approx(1.0)}


def test_cosine_ignores_feature_scale():
    rng = np.random.default_rng(0)
    g, q = rng.normal(size=(20, 8)), rng.normal(size=(6, 8))
    gl, ql = rng.integers(0, 3, 20), rng.integers(0, 3, 6)
    scaled = g * rng.uniform(0.1, 10, size=(20, 1))
    assert retrieval_recall(q, ql, g, gl) == retrieval_recall(q, ql, scaled, gl)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="one label per row"):
        retrieval_recall(np.ones((2, 3)), np.array([0]), np.ones((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="dims"):
        retrieval_recall(np.ones((1, 3)), np.array([0]), np.ones((2, 4)), np.array([0, 1]))
