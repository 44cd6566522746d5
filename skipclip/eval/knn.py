"""Weighted k-nearest-neighbour classification on frozen features, the kNN accuracy of the
instance-discrimination literature (Wu et al., CVPR 2018, Sec. 3.4; solo-learn's ``WeightedKNNClassifier``,
DINO's ``eval_knn.py``): each test video takes its ``k`` most cosine-similar training videos, each
neighbour votes for its class with weight ``exp(similarity / T)``, and the class with the largest
total wins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from skipclip.errors import InvalidInputError
from skipclip.eval.features import frozen_features
from skipclip.eval.metrics import topk_accuracy
from skipclip.eval.protocol_row import ProtocolRow
from skipclip.eval.retrieval import cosine_similarity

KNN_K = 20
KNN_TEMPERATURE = 0.07


def knn_scores(
    query: np.ndarray,
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    num_classes: int,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
) -> np.ndarray:
    """Per-class vote totals ``(Q, num_classes)``: the sum of ``exp(cos / T)`` over each query's ``k``
    nearest gallery rows of that class. ``k`` beyond the gallery size uses the whole gallery; ties in
    similarity go to the earlier gallery row.

    Raises:
        ValueError: empty inputs, mismatched lengths or feature sizes, ``k`` < 1, ``temperature`` <= 0,
            or a gallery label outside ``[0, num_classes)``.
    """
    query, gallery = np.asarray(query, dtype=np.float64), np.asarray(gallery, dtype=np.float64)
    gallery_labels = np.asarray(gallery_labels)
    if len(query) == 0 or len(gallery) == 0:
        raise InvalidInputError(f"kNN needs queries and a gallery, got {len(query)} and {len(gallery)}")
    if len(gallery) != len(gallery_labels):
        raise InvalidInputError(f"one label per gallery row needed: {len(gallery)} rows, {len(gallery_labels)} labels")
    if query.shape[1] != gallery.shape[1]:
        raise InvalidInputError(f"query features have {query.shape[1]} dims, gallery features {gallery.shape[1]}")
    if k < 1 or not temperature > 0:
        raise InvalidInputError(f"kNN needs k >= 1 and a temperature > 0, got k={k}, temperature={temperature}")
    if gallery_labels.min() < 0 or gallery_labels.max() >= num_classes:
        raise InvalidInputError(
            f"gallery labels must lie in [0, {num_classes}), got {gallery_labels.min()}.."
            f"{gallery_labels.max()}; unlabelled videos cannot vote"
        )
    k = min(k, len(gallery))
    sim = cosine_similarity(query, gallery)  # Q x G
    nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # Q x k
    weights = np.exp(np.take_along_axis(sim, nearest, 1) / temperature)  # Q x k
    scores = np.zeros((len(query), num_classes))  # Q x N
    np.add.at(scores, (np.arange(len(query))[:, None], gallery_labels[nearest]), weights)
    return scores


class KnnAccuracy(TypedDict):
    """:func:`knn_accuracy`'s figures: top-5 is ``None`` with 5 classes or fewer."""

    top1: float
    top5: float | None


def knn_accuracy(
    query: np.ndarray,
    query_labels: np.ndarray,
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    num_classes: int,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
) -> KnnAccuracy:
    """Top-1 and top-5 accuracy of the weighted kNN vote (:func:`knn_scores`).

    Raises:
        ValueError: as :func:`knn_scores`, or one label per query missing.
    """

    query_labels = np.asarray(query_labels)
    if len(query) != len(query_labels):
        raise InvalidInputError(f"one label per query needed: {len(query)} queries, {len(query_labels)} labels")
    scores = knn_scores(query, gallery, gallery_labels, num_classes, k, temperature)
    return {"top1": topk_accuracy(scores, query_labels, 1), "top5": topk_accuracy(scores, query_labels, 5)}


@dataclass(frozen=True, kw_only=True)
class KnnResult(ProtocolRow):
    """The ``knn`` protocol's row of a report.

    Attributes:
        init: where g started; ``None`` until the caller that knows says (``dataclasses.replace``).
        protocol: ``"knn"``.
        top1, top5: accuracy of the weighted vote on the test videos.
        k: neighbours that voted (``k`` capped at the gallery size).
        temperature: the vote's temperature T.
        queries: test videos.
        gallery: training videos.
    """

    protocol: str = field(default="knn", init=False)
    top1: float
    top5: float | None  # None with 5 classes or fewer
    k: int
    temperature: float
    queries: int
    gallery: int


def knn(
    cfg, encoder, train_src, test_src, *, features=None, k: int = KNN_K, temperature: float = KNN_TEMPERATURE
) -> KnnResult:
    """The ``knn`` protocol: test videos classified by a weighted vote of their ``k`` nearest
    training videos (cosine on frozen per-video features). ``features``: precomputed
    ``((x_train, y_train), (x_test, y_test))`` from :func:`~skipclip.eval.features.frozen_features`.

    Returns:
        The protocol's row, ``init`` unset.
    """

    (xl, yl), (xt, yt) = features or frozen_features(cfg, encoder, train_src, test_src)
    acc = knn_accuracy(xt, yt, xl, yl, len(train_src.classes), k, temperature)
    return KnnResult(
        top1=acc["top1"],
        top5=acc["top5"],
        k=int(min(k, len(yl))),
        temperature=temperature,
        queries=int(len(yt)),
        gallery=int(len(yl)),
    )


__all__ = ["KNN_K", "KNN_TEMPERATURE", "KnnResult", "knn", "knn_accuracy", "knn_scores"]
