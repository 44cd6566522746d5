"""Pretext health metrics: pairwise ranking accuracy and Kendall's tau."""

import itertools

import pytest
import torch

from skipclip.method.pretext_metrics import kendall_tau, pairwise_ranking_accuracy


def naive_tau(row):
    pairs = list(itertools.combinations(range(len(row)), 2))
    return sum((row[i] > row[j]) - (row[i] < row[j]) for i, j in pairs) / len(pairs)


def test_perfect_and_reversed_order():
    ordered = torch.tensor([[0.9, 0.5, 0.1, -0.3], [4.0, 3.0, 2.0, 1.0]])  # nearest first, decreasing
    assert kendall_tau(ordered).item() == 1.0
    assert pairwise_ranking_accuracy(ordered).item() == 1.0
    reversed_ = ordered.flip(1)
    assert kendall_tau(reversed_).item() == -1.0
    assert pairwise_ranking_accuracy(reversed_).item() == 0.0


def test_hand_case_and_ties():
    # pairs (0,1) ok, (0,2) wrong, (1,2) wrong -> accuracy 1/3, tau (1 - 2) / 3
    pos = torch.tensor([[0.5, 0.2, 0.7]])
    torch.testing.assert_close(pairwise_ranking_accuracy(pos), torch.tensor(1 / 3))
    torch.testing.assert_close(kendall_tau(pos), torch.tensor(-1 / 3))
    ties = torch.full((2, 5), 0.3)
    assert kendall_tau(ties).item() == 0.0
    assert pairwise_ranking_accuracy(ties).item() == 0.0


@pytest.mark.parametrize("b, m", [(1, 2), (5, 8), (3, 13)])
def test_matches_loop(b, m):
    torch.manual_seed(b * m)
    pos = torch.randn(b, m)
    rows = pos.tolist()
    expected_tau = sum(naive_tau(r) for r in rows) / b
    torch.testing.assert_close(kendall_tau(pos).item(), expected_tau, rtol=1e-6, atol=1e-6)
    n_pairs = m * (m - 1) // 2
    expected_acc = sum(r[i] > r[j] for r in rows for i, j in itertools.combinations(range(m), 2)) / (b * n_pairs)
    torch.testing.assert_close(pairwise_ranking_accuracy(pos).item(), expected_acc, rtol=1e-6, atol=1e-6)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(4, 1\)"):
        kendall_tau(torch.rand(4, 1))
    with pytest.raises(ValueError, match=r"\(4,\)"):
        pairwise_ranking_accuracy(torch.rand(4))
