"""Accuracy of class scores: the one top-k accuracy of the project."""

from __future__ import annotations

import numpy as np


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores (``k`` beyond the class
    count uses every class)."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1)[:, :k]
    return float((top == np.asarray(labels)[:, None]).any(1).mean())
