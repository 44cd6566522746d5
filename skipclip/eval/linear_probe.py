"""The ``linear_probe`` protocol: multinomial logistic regression (L-BFGS) on frozen, standardised
per-video features. (The ``finetune_frozen`` protocol of :mod:`.finetune` instead trains a linear
layer with Adam on clips through the fine-tuning pipeline.)"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from skipclip.errors import InvalidInputError
from skipclip.eval.features import frozen_features
from skipclip.eval.metrics import topk_accuracy
from skipclip.eval.protocol_row import ProtocolRow

METHOD = "L-BFGS softmax regression on frozen, standardised per-video features"


def fit_linear_probe(
    x: np.ndarray, y: np.ndarray, num_classes: int, weight_decay: float = 1e-3, seed: int = 0, max_iter: int = 300
):
    """Fit softmax regression with L-BFGS; returns a function mapping features to class scores.

    Features are standardised with the training set's mean and std.

    Raises:
        ValueError: empty or mismatched inputs.
    """
    if len(x) == 0 or len(x) != len(y):
        raise InvalidInputError(f"need as many labels as feature rows, got {len(x)} rows and {len(y)} labels")
    g = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.long)
    mean, std = xt.mean(0), xt.std(0, unbiased=False).clamp_min(1e-6)
    xt = (xt - mean) / std
    w = (0.01 * torch.randn(xt.shape[1], num_classes, generator=g, dtype=torch.float64)).requires_grad_()
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xt @ w + b, yt) + weight_decay * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w_, b_ = w.detach(), b.detach()

    def predict(features: np.ndarray) -> np.ndarray:
        f = (torch.as_tensor(features, dtype=torch.float64) - mean) / std
        return (f @ w_ + b_).numpy()

    return predict


@dataclass(frozen=True, kw_only=True)
class LinearProbeResult(ProtocolRow):
    """The ``linear_probe`` protocol's row of a report.

    Attributes:
        init: where g started; ``None`` until the caller that knows says (``dataclasses.replace``).
        protocol: ``"linear_probe"``.
        method: :data:`METHOD`.
        top1, top5: accuracy on the test videos.
        train_videos, test_videos: videos the regression was fitted and tested on.
        seed: seed of the weights' initialisation.
    """

    protocol: str = field(default="linear_probe", init=False)
    method: str = field(default=METHOD, init=False)
    top1: float
    top5: float | None  # None with 5 classes or fewer
    train_videos: int
    test_videos: int
    seed: int


def linear_probe(
    cfg, encoder, train_src, test_src, *, seed: int = 0, weight_decay: float = 1e-3, features=None
) -> LinearProbeResult:
    """The ``linear_probe`` protocol: softmax regression (L-BFGS) on frozen per-video features;
    train on ``train_src``, test on ``test_src``. ``features``: precomputed
    ``((x_train, y_train), (x_test, y_test))`` from :func:`~skipclip.eval.features.frozen_features`.

    Returns:
        The protocol's row, ``init`` unset.
    """

    (xl, yl), (xt, yt) = features or frozen_features(cfg, encoder, train_src, test_src)
    predict = fit_linear_probe(xl, yl, len(train_src.classes), weight_decay=weight_decay, seed=seed)
    scores = predict(xt)
    return LinearProbeResult(
        top1=topk_accuracy(scores, yt, 1),
        top5=topk_accuracy(scores, yt, 5),
        train_videos=int(len(yl)),
        test_videos=int(len(yt)),
        seed=seed,
    )
