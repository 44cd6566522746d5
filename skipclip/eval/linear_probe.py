"""A linear probe: multinomial logistic regression on frozen, standardised features."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def fit_linear_probe(x: np.ndarray, y: np.ndarray, num_classes: int, weight_decay: float = 1e-3,
                     seed: int = 0, max_iter: int = 300):
    """Fit softmax regression with L-BFGS; returns a function mapping features to class scores.

    Features are standardised with the training set's mean and std.

    Raises:
        ValueError: empty or mismatched inputs.
    """
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"need as many labels as feature rows, got {len(x)} rows and {len(y)} labels")
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


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1)[:, :k]
    return float((top == labels[:, None]).any(1).mean())
