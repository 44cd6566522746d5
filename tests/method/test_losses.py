"""Score function and loss terms against hand-computed values and naive loop references."""

import math

import pytest
import torch
import torch.nn.functional as F

from skipclip.method.losses import contrastive_loss, ranking_loss, rotation_loss, score, score_all

# ---- naive references: one Python loop per sum in the paper's equations ----------------------


def naive_score(h, z):
    """Eq. 3, cell by cell."""
    b_size, n_size = z.shape[:2]
    out = torch.zeros(b_size, n_size, dtype=torch.float64)
    for b in range(b_size):
        for n in range(n_size):
            total = 0.0
            for m in range(h.shape[2]):
                for k in range(h.shape[3]):
                    u, v = h[b, :, m, k].double(), z[b, n, :, m, k].double()
                    total += float(u @ v / (u.norm() * v.norm()))
            out[b, n] = total / (h.shape[2] * h.shape[3])
    return out


def naive_ranking(pos, margin):
    """Eq. 1."""
    total = 0.0
    for row in pos.tolist():
        for i in range(len(row)):
            for j in range(i + 1, len(row)):
                total += max(0.0, -row[i] + row[j] + margin)
    return total / pos.shape[0]


def naive_contrastive(pos, neg, margin, mask=None):
    """Eq. 2, with the expectation over the valid negatives of each row."""
    total = 0.0
    for b in range(pos.shape[0]):
        valid = [neg[b, q].item() for q in range(neg.shape[1]) if mask is None or mask[b, q]]
        expected = sum(valid) / len(valid)
        for i in range(pos.shape[1]):
            total += max(0.0, -pos[b, i].item() + expected + margin)
    return total / pos.shape[0]


# ---- score ------------------------------------------------------------------------------------


@pytest.mark.parametrize("b, n, c, hw", [(1, 1, 1, 1), (2, 3, 4, 2), (3, 8, 16, 3)])
def test_score_matches_loop(b, n, c, hw):
    torch.manual_seed(b * 100 + n)
    h = torch.randn(b, c, hw, hw)
    z = torch.randn(b, n, c, hw, hw)
    s = score(h, z)
    assert s.shape == (b, n)
    torch.testing.assert_close(s.double(), naive_score(h, z), rtol=1e-5, atol=1e-6)


def test_score_hand_case():
    # 1 x 2 grid, C = 2: cell 0 vectors (1, 0) and (1, 1) -> cos 1/sqrt(2); cell 1 (0, 3) and (0, -2) -> -1.
    h = torch.tensor([[1.0, 0.0], [0.0, 3.0]]).T.reshape(1, 2, 1, 2)
    z = torch.tensor([[1.0, 1.0], [0.0, -2.0]]).T.reshape(1, 1, 2, 1, 2)
    torch.testing.assert_close(score(h, z), torch.tensor([[(1 / math.sqrt(2) - 1) / 2]]))


def test_score_scale_invariance_and_self_score():
    torch.manual_seed(0)
    h = torch.randn(2, 8, 3, 3)
    z = torch.randn(2, 4, 8, 3, 3)
    s = score(h, z)
    torch.testing.assert_close(score(3.5 * h, z), s)
    torch.testing.assert_close(score(h, 0.01 * z), s)
    # per-cell positive scaling does not change a cosine either
    cell_scale = torch.rand(2, 1, 1, 3, 3) + 0.1
    torch.testing.assert_close(score(h, z * cell_scale), s)
    torch.testing.assert_close(score(h, h.unsqueeze(1)), torch.ones(2, 1))
    torch.testing.assert_close(score(h, -h.unsqueeze(1)), -torch.ones(2, 1))


def test_score_zero_cells_are_finite():
    h = torch.zeros(1, 4, 2, 2)
    z = torch.randn(1, 2, 4, 2, 2)
    s = score(h, z)
    assert torch.isfinite(s).all()
    torch.testing.assert_close(s, torch.zeros(1, 2))


@pytest.mark.parametrize("b, p", [(1, 1), (3, 5), (4, 36)])
def test_score_all_agrees_with_score(b, p):
    torch.manual_seed(p)
    h = torch.randn(b, 16, 3, 3)
    z = torch.randn(p, 16, 3, 3)
    s_all = score_all(h, z)
    assert s_all.shape == (b, p)
    expected = score(h, z.unsqueeze(0).expand(b, -1, -1, -1, -1))  # B x P
    torch.testing.assert_close(s_all, expected)


def test_score_gradients_flow():
    h = torch.randn(2, 4, 2, 2, requires_grad=True)
    z = torch.randn(2, 3, 4, 2, 2, requires_grad=True)
    score(h, z).sum().backward()
    assert h.grad.abs().sum() > 0 and z.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "h_shape, z_shape",
    [((2, 4, 3, 3), (2, 4, 3, 3)), ((2, 4, 3, 3), (3, 1, 4, 3, 3)), ((2, 4, 3, 3), (2, 1, 5, 3, 3))],
)
def test_score_bad_shapes(h_shape, z_shape):
    with pytest.raises(ValueError, match=r"got h \(2, 4, 3, 3\)"):
        score(torch.randn(h_shape), torch.randn(z_shape))


def test_score_all_bad_shapes():
    with pytest.raises(ValueError, match=r"\(5, 4, 2, 2\)"):
        score_all(torch.randn(2, 4, 3, 3), torch.randn(5, 4, 2, 2))


# ---- ranking loss -----------------------------------------------------------------------------


def test_ranking_hand_case():
    # scores 0.9, 0.5, 0.7 with margin 0.1:
    # (0,1): max(0, -0.9 + 0.5 + 0.1) = 0; (0,2): max(0, -0.9 + 0.7 + 0.1) = 0;
    # (1,2): max(0, -0.5 + 0.7 + 0.1) = 0.3
    # second row, perfectly ordered with gaps > margin: 0
    pos = torch.tensor([[0.9, 0.5, 0.7], [0.9, 0.6, 0.3]])
    torch.testing.assert_close(ranking_loss(pos, 0.1), torch.tensor(0.3 / 2))


def test_ranking_zero_margin_ties_and_single_target():
    assert ranking_loss(torch.full((2, 4), 0.5), 0.0).item() == 0.0
    # with ties every pair costs exactly the margin: 6 pairs x 0.2
    torch.testing.assert_close(ranking_loss(torch.full((2, 4), 0.5), 0.2), torch.tensor(1.2))
    assert ranking_loss(torch.randn(3, 1), 0.5).item() == 0.0


@pytest.mark.parametrize("b, m", [(1, 2), (4, 8), (7, 5)])
@pytest.mark.parametrize("margin", [0.0, 0.1, 1.0])
def test_ranking_matches_loop(b, m, margin):
    torch.manual_seed(b * m)
    pos = torch.rand(b, m) * 2 - 1
    torch.testing.assert_close(ranking_loss(pos, margin).item(), naive_ranking(pos, margin), rtol=1e-5, atol=1e-6)


def test_ranking_loss_goes_down():
    torch.manual_seed(0)
    pos = torch.randn(4, 8, requires_grad=True)
    opt = torch.optim.SGD([pos], lr=0.05)
    first = ranking_loss(pos, 0.1).item()
    for _ in range(20):
        opt.zero_grad()
        loss = ranking_loss(pos, 0.1)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


# ---- contrastive loss -------------------------------------------------------------------------


def test_contrastive_hand_case():
    # row 0: E[neg] = (0.2 + 0.4) / 2 = 0.3; margin 0.5 -> max(0, -0.9 + 0.8) = 0, max(0, -0.6 + 0.8) = 0.2
    # row 1: E[neg] = 0.0 -> max(0, -0.1 + 0.5) = 0.4, max(0, 0.2 + 0.5) = 0.7
    pos = torch.tensor([[0.9, 0.6], [0.1, -0.2]])
    neg = torch.tensor([[0.2, 0.4], [0.5, -0.5]])
    torch.testing.assert_close(contrastive_loss(pos, neg, 0.5), torch.tensor((0.2 + 1.1) / 2))


def test_contrastive_mask_hand_case():
    pos = torch.tensor([[0.9, 0.6], [0.1, -0.2]])
    neg = torch.tensor([[0.2, 0.4], [0.5, -0.5]])
    mask = torch.tensor([[True, False], [False, True]])
    # row 0: E = 0.2 -> 0 + 0.1; row 1: E = -0.5 -> 0 + 0.2
    torch.testing.assert_close(contrastive_loss(pos, neg, 0.5, mask=mask), torch.tensor((0.1 + 0.2) / 2))
    full = torch.ones_like(mask)
    torch.testing.assert_close(contrastive_loss(pos, neg, 0.5, mask=full), contrastive_loss(pos, neg, 0.5))


@pytest.mark.parametrize("b, m, q", [(1, 1, 1), (3, 8, 8), (5, 4, 20)])
@pytest.mark.parametrize("margin", [0.0, 0.5])
@pytest.mark.parametrize("masked", [False, True])
def test_contrastive_matches_loop(b, m, q, margin, masked):
    torch.manual_seed(b + m + q)
    pos = torch.rand(b, m) * 2 - 1
    neg = torch.rand(b, q) * 2 - 1
    mask = None
    if masked:
        mask = torch.rand(b, q) < 0.6
        mask[:, 0] = True  # at least one valid negative per row
    got = contrastive_loss(pos, neg, margin, mask=mask).item()
    torch.testing.assert_close(got, naive_contrastive(pos, neg, margin, mask), rtol=1e-5, atol=1e-6)


def test_in_batch_negatives_with_score_all():
    """The training pattern: one score_all, positives on the block diagonal, the rest negatives."""
    torch.manual_seed(0)
    b, m = 3, 4
    h = torch.randn(b, 8, 2, 2)
    z = torch.randn(b * m, 8, 2, 2)  # frames of all videos, video-major
    s = score_all(h, z)  # B x B*M
    own = torch.arange(b * m).div(m, rounding_mode="floor").unsqueeze(0) == torch.arange(b).unsqueeze(1)  # B x B*M
    pos = s[own].view(b, m)
    torch.testing.assert_close(pos, score(h, z.view(b, m, 8, 2, 2)))
    loss = contrastive_loss(pos, s, 0.5, mask=~own)
    torch.testing.assert_close(loss.item(), naive_contrastive(pos, s, 0.5, ~own), rtol=1e-5, atol=1e-6)


# ---- rotation loss ----------------------------------------------------------------------------


def test_rotation_loss():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 3])
    expected = (-F.log_softmax(logits, dim=1)[[0, 1], [0, 3]]).mean()
    torch.testing.assert_close(rotation_loss(logits, labels), expected)
    uniform = rotation_loss(torch.zeros(5, 4), torch.zeros(5, dtype=torch.long))
    torch.testing.assert_close(uniform, torch.tensor(math.log(4)))


# ---- argument validation ----------------------------------------------------------------------


def test_bad_arguments():
    pos = torch.rand(2, 3)
    with pytest.raises(ValueError, match="-0.1"):
        ranking_loss(pos, -0.1)
    with pytest.raises(ValueError, match="margin"):
        contrastive_loss(pos, torch.rand(2, 4), -1.0)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        ranking_loss(torch.rand(3), 0.1)
    with pytest.raises(ValueError, match=r"pos \(2, 3\), neg \(3, 4\)"):
        contrastive_loss(pos, torch.rand(3, 4), 0.1)
    with pytest.raises(ValueError, match="bool"):
        contrastive_loss(pos, torch.rand(2, 4), 0.1, mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        contrastive_loss(pos, torch.rand(2, 4), 0.1, mask=torch.tensor([[True] * 4, [False] * 4]))
    with pytest.raises(ValueError, match=r"\(4, 4\) and \(3,\)"):
        rotation_loss(torch.rand(4, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="dtype"):
        rotation_loss(torch.rand(4, 4), torch.zeros(4))


def test_contrastive_mean_over_the_valid_negatives_only():
    import torch

    from skipclip.method.losses import contrastive_loss

    pos = torch.tensor([[0.5, 0.2]])
    neg = torch.tensor([[0.1, 0.4, 0.9]])
    mask = torch.tensor([[True, True, False]])  # the 0.9 is the row's own frame, never a negative
    # mean of valid negatives 0.25: hinge(0.25-0.5+0.1)=0, hinge(0.25-0.2+0.1)=0.15
    assert contrastive_loss(pos, neg, 0.1, mask=mask).item() == pytest.approx(0.15)
    # without the mask the 0.9 counts: mean 0.4667, hinge(0.0667) + hinge(0.3667)
    assert contrastive_loss(pos, neg, 0.1).item() == pytest.approx((1.4 / 3 - 0.4) + (1.4 / 3 - 0.1))


# ---- precision: scores and losses in fp32 under autocast (issue 18, fix 3) --------------------


def test_scores_are_fp32_under_bf16_autocast():
    """Under bf16 autocast (the paper preset's precision) the scores come out float32 and equal
    the fp32 computation: in bf16 they are off by up to ~2e-3, where neighbouring targets differ
    by ~1.5e-2 at initialisation."""
    torch.manual_seed(0)
    h, z = torch.randn(4, 32, 3, 3), torch.randn(8, 32, 3, 3)
    want_all, want = score_all(h, z), score(h, z.view(4, 2, 32, 3, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got_all, got = score_all(h, z), score(h, z.view(4, 2, 32, 3, 3))
        from_bf16 = score_all(h.bfloat16(), z.bfloat16())  # encoder outputs under autocast are bf16
        loss = contrastive_loss(got, got_all, 0.1)
    assert got_all.dtype == got.dtype == from_bf16.dtype == loss.dtype == torch.float32
    torch.testing.assert_close(got_all, want_all, rtol=0, atol=1e-6)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    torch.testing.assert_close(from_bf16, score_all(h.bfloat16().float(), z.bfloat16().float()), rtol=0, atol=1e-6)


# ---- far negatives: their own hinge term (issue 18, fix 4) ------------------------------------

# ---- InfoNCE over targets against negatives (issue 18, point 4) -------------------------------


def test_info_nce_hand_case():
    from skipclip.method.losses import info_nce_loss

    t = 0.5
    pos = torch.tensor([[0.9, 0.6]])
    neg = torch.tensor([[0.2, 0.4, 0.95]])
    mask = torch.tensor([[True, True, False]])

    def one(p, negs):  # -log(e^{p/t} / (e^{p/t} + sum_q e^{n_q/t}))
        return -p / t + math.log(math.exp(p / t) + sum(math.exp(n / t) for n in negs))

    want = one(0.9, [0.2, 0.4]) + one(0.6, [0.2, 0.4])  # summed over the targets, as Eq. 2
    torch.testing.assert_close(info_nce_loss(pos, neg, t, mask=mask), torch.tensor(want))
    full = one(0.9, [0.2, 0.4, 0.95]) + one(0.6, [0.2, 0.4, 0.95])
    torch.testing.assert_close(info_nce_loss(pos, neg, t), torch.tensor(full))
    # non-saturating: a target far above every negative still has a gradient (a hinge gives none)
    p = torch.tensor([[0.9]], requires_grad=True)
    info_nce_loss(p, torch.tensor([[0.0]]), t).backward()
    assert p.grad.item() < 0
    with pytest.raises(ValueError, match="temperature"):
        info_nce_loss(pos, neg, 0.0)


@pytest.mark.parametrize("b, m, q", [(1, 2, 1), (3, 8, 8), (4, 3, 10)])
def test_info_nce_matches_loop(b, m, q):
    from skipclip.method.losses import info_nce_loss

    torch.manual_seed(b + m + q)
    pos, neg = torch.rand(b, m) * 2 - 1, torch.rand(b, q) * 2 - 1
    mask = torch.rand(b, q) < 0.6
    mask[:, 0] = True
    total = 0.0
    for r in range(b):
        negs = [neg[r, k].item() for k in range(q) if mask[r, k]]
        for i in range(m):
            p = pos[r, i].item()
            total += -p / 0.1 + math.log(math.exp(p / 0.1) + sum(math.exp(n / 0.1) for n in negs))
    torch.testing.assert_close(info_nce_loss(pos, neg, 0.1, mask=mask).item(), total / b, rtol=1e-5, atol=1e-5)
