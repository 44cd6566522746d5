"""Accuracy of class scores: the one top-k accuracy of the project."""

from __future__ import annotations

from typing import Literal, overload

import numpy as np


@overload
def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: Literal[1] = 1) -> float: ...
@overload
def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float | None: ...
def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float | None:
    """Fraction of rows whose label is among the ``k`` highest scores; ``None`` for ``k > 1`` with
    ``k`` or fewer classes, where every label is among the top ``k`` and the 1.0 would say nothing
    (top-5 is reported with more than 5 classes only)."""
    if k > 1 and scores.shape[1] <= k:
        return None
    top = np.argsort(-scores, axis=1)[:, :k]
    return float((top == np.asarray(labels)[:, None]).any(1).mean())
