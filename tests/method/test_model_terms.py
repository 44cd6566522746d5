"""The loss terms of one Skip-Clip step (issue 18): fp32 scores under autocast, negatives masked by
group, the InfoNCE variant, the rotation task switched off,
and g initialised from f's initial weights."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from skipclip.data import PretextBatch
from skipclip.method import SkipClipModel, build_skipclip, losses

from helpers import tiny_cfg


def batch_of(cfg, b: int, seed: int) -> PretextBatch:
    k, m, d, s = (cfg.pretext.context_frames, cfg.pretext.num_targets, cfg.pretext.target_length, cfg.data.crop_size)
    gen = torch.Generator().manual_seed(seed)
    return PretextBatch(
        context=torch.randint(0, 256, (b, 3, k, s, s), dtype=torch.uint8, generator=gen),
        targets=torch.randint(0, 256, (b, m, d, 3, s, s), dtype=torch.uint8, generator=gen),
        video=torch.arange(b),
    )


def model_of(**pretext):
    cfg = tiny_cfg(pretext={"rotation": False, **pretext}, trainer={"channels_last": False})
    torch.manual_seed(0)
    return cfg, build_skipclip(cfg).eval()


# ------------------------------------------------------------------ fix 3: precision
def test_a_step_under_bf16_autocast_scores_and_losses_in_fp32():
    cfg = tiny_cfg(pretext={"rotation": True})
    torch.manual_seed(0)
    model = build_skipclip(cfg).train()
    batch = batch_of(cfg, 4, seed=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms, metrics = model(batch)
        enc = model.encode(batch.context, batch.targets)
    assert enc.h.dtype == torch.bfloat16  # the encoders do run in bf16 ...
    for name, value in terms.items():  # ... but the scores, hinge losses and rank metrics do not
        assert value.dtype == torch.float32, name
    for name in ("pos_score", "neg_score", "pos_neg_gap", "kendall_tau"):
        assert metrics[name].dtype == torch.float32, name
    sum(terms.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# ------------------------------------------------------------------ fix 5: groups
def test_samples_of_one_group_are_not_each_others_negatives():
    """Clips of one recording (a KTH clip's pieces, UCF101's gNN) share a group id: they are not
    negatives of each other; samples of different groups are."""
    torch.manual_seed(0)
    b, m, c = 4, 2, 5
    h, z = torch.randn(b, c, 1, 1), torch.randn(b * m, c, 1, 1)
    model = SkipClipModel(torch.nn.Identity(), torch.nn.Identity(), channels_last=False)
    videos, groups = torch.tensor([0, 1, 2, 3]), torch.tensor([10, 10, 11, 12])
    _, _, mask, counts = model.scores(h, z, m, videos, groups=groups)
    assert counts.tolist() == [True] * 4
    for row in range(b):
        for col in range(b * m):
            assert bool(mask[row, col]) == (groups[col // m] != groups[row]), (row, col)
    _, _, by_video, _ = model.scores(h, z, m, videos)  # without groups only the own video is masked
    assert bool(by_video[0, m]) and not bool(mask[0, m])


def test_a_batch_of_one_group_has_no_contrastive_term():
    cfg, model = model_of()
    batch = batch_of(cfg, 3, seed=1)
    with torch.no_grad():
        apart, _ = model(dataclasses.replace(batch, group=torch.tensor([0, 1, 2])))
        together, _ = model(dataclasses.replace(batch, group=torch.tensor([5, 5, 5])))
        two, _ = model(dataclasses.replace(batch, group=torch.tensor([5, 5, 6])))
        enc = model.encode(batch.context, batch.targets)
        pos, neg, _, _ = model.scores(enc.h, enc.z, cfg.pretext.num_targets)
    assert "contrastive" in apart and "contrastive" not in together
    m = cfg.pretext.num_targets
    mask = torch.zeros(3, 3 * m, dtype=torch.bool)
    mask[0, 2 * m :] = mask[1, 2 * m :] = True  # videos 0 and 1 (group 5) against video 2 (group 6) ...
    mask[2, : 2 * m] = True  # ... and back
    want = losses.contrastive_loss(pos, neg, cfg.pretext.neg_margin, mask=mask)
    torch.testing.assert_close(two["contrastive"], want)


# ------------------------------------------------------------------ point 4: InfoNCE
def test_infonce_scores_targets_against_other_videos():
    cfg, model = model_of(contrastive="infonce", temperature=0.2)
    batch = batch_of(cfg, 3, seed=3)
    with torch.no_grad():
        got, _ = model(batch)
        enc = model.encode(batch.context, batch.targets)
        pos, neg, mask, _ = model.scores(enc.h, enc.z, cfg.pretext.num_targets, batch.video)
    want = losses.info_nce_loss(pos, neg, 0.2, mask=mask)
    assert set(got) == {"rank", "contrastive"}
    torch.testing.assert_close(got["contrastive"], want)
    _, hinge = model_of(contrastive="hinge")
    with torch.no_grad():
        assert not torch.allclose(hinge(batch)[0]["contrastive"], want)


# ------------------------------------------------------------------ point 4: rotation off, g from f
def test_the_rotation_task_can_be_switched_off():
    cfg = tiny_cfg(pretext={"rotation": False})
    model = build_skipclip(cfg).train()
    assert model.rotation_head is None
    terms, metrics = model(batch_of(cfg, 2, seed=4))
    assert "rotation" not in terms and "rot_acc" not in metrics


@pytest.mark.parametrize("arch", ["r3d18_hara", "r3d_18"])
def test_g_can_start_from_fs_initial_weights(arch):
    """``model.init_context_from_frame``: each 2D kernel of f repeated along time and divided by
    the temporal size (I3D inflation) is g's initial kernel; batch norms copied."""
    cfg = tiny_cfg(model={"init_context_from_frame": True, "context_arch": arch, "shortcut": "B"})
    model = build_skipclip(cfg)
    f, g = model.frame_encoder, model.context_encoder.trunk
    stem = g.stem[0].weight  # O x 3 x kt x 7 x 7
    for t in range(stem.shape[2]):
        torch.testing.assert_close(stem[:, :, t] * stem.shape[2], f.conv1.weight)
    kernel = g.layer3[0].conv1[0].weight
    torch.testing.assert_close(kernel.sum(2), f.layer3[0].conv1.weight)
    torch.testing.assert_close(g.layer2[0].downsample[0].weight[:, :, 0], f.layer2[0].downsample[0].weight)
    fresh = build_skipclip(tiny_cfg(model={"context_arch": arch, "shortcut": "B"}))  # the default: g's own init
    assert not torch.allclose(fresh.context_encoder.trunk.stem[0].weight.sum(2), fresh.frame_encoder.conv1.weight)
