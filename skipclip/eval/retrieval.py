"""Nearest-neighbour video retrieval on frozen features, as VCOP (Xu et al., CVPR 2019) reports it:
each test video queries the training videos by cosine similarity, and a query counts as a hit at
``k`` when a video of its class is among its ``k`` nearest neighbours (recall at k)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from skipclip.errors import InvalidInputError
from skipclip.eval.features import frozen_features
from skipclip.eval.protocol_row import ProtocolRow

RECALL_AT = (1, 5, 10, 20, 50)


def cosine_similarity(query: np.ndarray, gallery: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``(Q, G)`` cosine similarities of the rows of ``query`` ``(Q, C)`` and ``gallery`` ``(G, C)``."""
    q = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), eps)  # Q x C
    g = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), eps)  # G x C
    return q @ g.T  # Q x G


def retrieval_recall(
    query: np.ndarray,
    query_labels: np.ndarray,
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    ks: Sequence[int] = RECALL_AT,
) -> dict[int, float]:
    """Recall at each ``k``: the fraction of queries with a same-class gallery item among their
    ``k`` most cosine-similar gallery items. A ``k`` beyond the gallery size uses the whole gallery.
    Ties are broken by gallery order (stable sort).

    Raises:
        ValueError: empty inputs, mismatched lengths or feature sizes, or a ``k`` < 1.
    """
    query, gallery = np.asarray(query, dtype=np.float64), np.asarray(gallery, dtype=np.float64)
    query_labels, gallery_labels = np.asarray(query_labels), np.asarray(gallery_labels)
    if len(query) == 0 or len(gallery) == 0:
        raise InvalidInputError(f"retrieval needs queries and a gallery, got {len(query)} and {len(gallery)}")
    if len(query) != len(query_labels) or len(gallery) != len(gallery_labels):
        raise InvalidInputError(
            f"one label per row needed: {len(query)} queries / {len(query_labels)} labels, "
            f"{len(gallery)} gallery rows / {len(gallery_labels)} labels"
        )
    if query.shape[1] != gallery.shape[1]:
        raise InvalidInputError(f"query features have {query.shape[1]} dims, gallery features {gallery.shape[1]}")
    if any(k < 1 for k in ks):
        raise InvalidInputError(f"recall ks must be >= 1, got {list(ks)}")
    sim = cosine_similarity(query, gallery)  # Q x G
    order = np.argsort(-sim, axis=1, kind="stable")  # Q x G, nearest first
    same = gallery_labels[order] == query_labels[:, None]  # Q x G
    first_hit = np.where(same.any(1), same.argmax(1), len(gallery))  # Q, rank of the first same-class item
    return {int(k): float((first_hit < k).mean()) for k in ks}


@dataclass(frozen=True, kw_only=True)
class RetrievalResult(ProtocolRow):
    """The ``retrieval`` protocol's row of a report.

    Attributes:
        init: where g started; ``None`` until the caller that knows says (``dataclasses.replace``).
        protocol: ``"retrieval"``.
        top1, top5: recall at 1 and at 5.
        recall: recall at each ``k`` of :data:`RECALL_AT`, keyed by ``str(k)``.
        queries: test videos.
        gallery: training videos.
    """

    protocol: str = field(default="retrieval", init=False)
    top1: float
    top5: float
    recall: dict[str, float]
    queries: int
    gallery: int


def retrieval(cfg, encoder, train_src, test_src, *, features=None) -> RetrievalResult:
    """The ``retrieval`` protocol: test videos query training videos by cosine similarity of
    frozen features (VCOP's protocol). ``features``: precomputed ``((x_train, y_train), (x_test,
    y_test))`` from :func:`~skipclip.eval.features.frozen_features`.

    Returns:
        The protocol's row, ``init`` unset.
    """

    (xl, yl), (xt, yt) = features or frozen_features(cfg, encoder, train_src, test_src)
    recall = retrieval_recall(xt, yt, xl, yl, RECALL_AT)
    return RetrievalResult(
        top1=recall[1],
        top5=recall[5],
        recall={str(k): v for k, v in recall.items()},
        queries=int(len(yt)),
        gallery=int(len(yl)),
    )


__all__ = ["RECALL_AT", "RetrievalResult", "cosine_similarity", "retrieval", "retrieval_recall"]
