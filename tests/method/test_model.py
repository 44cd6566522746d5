"""The Skip-Clip model's fast paths equal the plain ones.

Batched scoring against a per-pair loop; the gather rotation against ``torch.rot90`` frame by
frame; the one-pass ``normalize`` against the textbook formula; and a whole step (channels-last weights
and inputs, uint8 rotation, fused normalisation) against the plain step it replaced (float
normalisation, boolean-mask rotation, default layouts): same losses, same gradients.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from skipclip.data import PretextBatch
from skipclip.method import SkipClipModel, build_skipclip, losses, rotate_batch
from skipclip.method.model import Encoded
from skipclip.models import to_channels_last_
from skipclip.models.normalize import MEAN, STD, normalize

from helpers import tiny_cfg


def plain_normalize(clip: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """uint8 -> [0, 1] -> standardised, RGB on ``channel_dim``: the textbook formula."""
    shape = [1] * clip.dim()
    shape[channel_dim] = 3
    return (clip.float() / 255.0 - torch.tensor(MEAN).view(shape)) / torch.tensor(STD).view(shape)


# ------------------------------------------------------------------ references
def rotate_loop(frames: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.rot90(frames[n], int(k[n]), dims=(-2, -1)) for n in range(len(k))])


def plain_encode(self: SkipClipModel, context: torch.Tensor, targets: torch.Tensor, rotation: bool = False) -> Encoded:
    """The step as first written: float normalisation, boolean-mask rotation, default layouts."""
    context = plain_normalize(context, channel_dim=1)  # B x 3 x K x S x S
    b, m, d = targets.shape[:3]
    frames = plain_normalize(targets, channel_dim=3).flatten(2, 3).flatten(0, 1)  # B*M x 3d x S x S
    if rotation:
        rot_labels = torch.randint(0, 4, (b * m,), device=frames.device)
        rotated = frames.clone()
        for quarter in (1, 2, 3):
            sel = rot_labels == quarter
            if sel.any():
                rotated[sel] = torch.rot90(frames[sel], quarter, dims=(-2, -1))
        frames = torch.cat([frames, rotated])
    h = self.context_encoder(context)
    z_all = self.frame_encoder(frames)
    out = Encoded(h, z_all[: b * m], m)
    if rotation:
        out.rot_logits, out.rot_labels = self.rotation_head(z_all[b * m :]), rot_labels
    return out


class PlainSkipClip(SkipClipModel):
    encode = plain_encode


def make_batch(cfg, seed: int = 0) -> PretextBatch:
    g = torch.Generator().manual_seed(seed)
    b, s, p = cfg.data.batch_size, cfg.data.crop_size, cfg.pretext
    return PretextBatch(
        context=torch.randint(0, 256, (b, 3, p.context_frames, s, s), dtype=torch.uint8, generator=g),
        targets=torch.randint(0, 256, (b, p.num_targets, p.target_length, 3, s, s), dtype=torch.uint8, generator=g),
    )


# ------------------------------------------------------------------ pieces
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("n,c,s", [(1, 3, 4), (9, 6, 7), (16, 3, 32)])
def test_rotate_batch_equals_rot90_per_frame(dtype, n, c, s):
    g = torch.Generator().manual_seed(n * s)
    frames = torch.randint(0, 256, (n, c, s, s), generator=g).to(dtype)
    k = torch.randint(0, 4, (n,), generator=g)
    k[: min(n, 4)] = torch.arange(min(n, 4))  # every quarter turn present when n >= 4
    assert torch.equal(rotate_batch(frames, k), rotate_loop(frames, k))


def test_rotate_batch_rejects_non_square_frames():
    with pytest.raises(ValueError, match="square"):
        rotate_batch(torch.zeros(2, 3, 4, 5), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("d", [1, 2])
def test_one_pass_normalisation_equals_the_formula(d):
    clip = torch.randint(0, 256, (3, 2, d, 3, 8, 8), dtype=torch.uint8)  # B x M x d x 3 x S x S
    flat = clip.flatten(0, 1).flatten(1, 2)  # B*M x 3d x S x S
    want = plain_normalize(clip, channel_dim=3).flatten(2, 3).flatten(0, 1)
    got = normalize(flat, 1, torch.channels_last)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    context = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    torch.testing.assert_close(
        normalize(context, 1, torch.channels_last_3d), plain_normalize(context, 1), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("b,m,c,hw", [(1, 3, 4, 1), (3, 2, 5, 2), (4, 4, 8, 3)])
def test_batched_scores_equal_a_per_pair_loop(b, m, c, hw):
    torch.manual_seed(b * m)
    h = torch.randn(b, c, hw, hw)
    z = torch.randn(b * m, c, hw, hw)
    model = SkipClipModel(torch.nn.Identity(), torch.nn.Identity(), channels_last=False)
    pos, neg, mask, counts = model.scores(h, z, m)
    assert counts is None  # without video ids every row counts
    for i in range(b):
        for p in range(b * m):
            # Eq. 3: mean over cells of the channel cosine similarity, one pair at a time
            cells = [
                torch.nn.functional.cosine_similarity(h[i, :, y, x], z[p, :, y, x], dim=0, eps=1e-8)
                for y in range(hw)
                for x in range(hw)
            ]
            want = torch.stack(cells).mean()
            torch.testing.assert_close(neg[i, p], want, rtol=1e-5, atol=1e-6)
            assert bool(mask[i, p]) == (p // m != i)  # negatives: every other video's frames
            if p // m == i:
                torch.testing.assert_close(pos[i, p % m], want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pos, losses.score(h, z.view(b, m, c, hw, hw)))


def test_to_channels_last_keeps_values_and_parameters():
    model = build_skipclip(tiny_cfg(trainer={"channels_last": False}))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    to_channels_last_(model)
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
        if v.dim() == 4:
            assert v.is_contiguous(memory_format=torch.channels_last), k
        if v.dim() == 5:
            assert v.is_contiguous(memory_format=torch.channels_last_3d), k


# ------------------------------------------------------------------ a whole step
@pytest.mark.parametrize("rotation", [True, False])
def test_fast_step_equals_plain_step(rotation):
    cfg = tiny_cfg(pretext={"rotation": rotation})
    torch.manual_seed(0)
    reference = build_skipclip(tiny_cfg(pretext={"rotation": rotation}, trainer={"channels_last": False}))
    plain = PlainSkipClip(
        reference.context_encoder, reference.frame_encoder, reference.rotation_head, channels_last=False
    )
    fast = build_skipclip(cfg)
    fast.load_state_dict(plain.state_dict())
    assert fast.channels_last  # the preset's default: channels-last weights and inputs
    batch = make_batch(cfg)
    results = []
    for model in (plain, fast):
        model.train()
        torch.manual_seed(1)  # the same rotation labels
        terms, metrics = model(batch)
        sum(terms.values()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((terms, metrics, grads))
    (t0, m0, g0), (t1, m1, g1) = results
    assert set(t0) == set(t1) == {"rank", "contrastive"} | ({"rotation"} if rotation else set())
    for name in t0:
        torch.testing.assert_close(t1[name], t0[name], rtol=1e-4, atol=1e-5, msg=name)
    for name in ("pos_score", "neg_score"):
        torch.testing.assert_close(m1[name], m0[name], rtol=1e-4, atol=1e-5, msg=name)
    assert set(g0) == set(g1) == {n for n, _ in plain.named_parameters()}
    for name, grad in g0.items():  # fp32 sums in another order, amplified by batch norm over 4 clips
        scale = float(grad.abs().max())
        torch.testing.assert_close(g1[name], grad, rtol=0, atol=1e-3 * scale + 1e-7, msg=name)
    fast_conv = fast.frame_encoder.conv1.weight
    assert fast_conv.is_contiguous(memory_format=torch.channels_last)
    assert fast.context_encoder.trunk.stem[0].weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_repeated_and_padded_videos_leave_the_negative_pool():
    torch.manual_seed(0)
    b, m, c = 4, 2, 5
    h, z = torch.randn(b, c, 1, 1), torch.randn(b * m, c, 1, 1)
    model = SkipClipModel(torch.nn.Identity(), torch.nn.Identity(), channels_last=False)
    videos = torch.tensor([5, 7, 5, 9])  # row 2 repeats video 5 (a failed video's replacement)
    pad = torch.tensor([False, False, False, True])  # row 3 is a padded validation repeat
    _, _, mask, counts = model.scores(h, z, m, videos, pad)
    assert counts.tolist() == [True, True, False, False]
    pool_video_of_column = [p // m for p in range(b * m)]
    want = [
        [pool_video_of_column[p] == 1 for p in range(b * m)],  # video 5: only video 7's frames
        [pool_video_of_column[p] == 0 for p in range(b * m)],
    ]  # video 7: only the first video 5
    assert mask[:2].tolist() == want


def three_videos(seed: int):
    """A tiny model without rotation in eval mode and a uint8 batch of videos 0, 1, 2."""
    cfg = tiny_cfg(model={"width": 8}, pretext={"rotation": False}, trainer={"channels_last": False})
    torch.manual_seed(0)
    model = build_skipclip(cfg).eval()
    k, m, s = cfg.pretext.context_frames, cfg.pretext.num_targets, cfg.data.crop_size
    gen = torch.Generator().manual_seed(seed)
    batch = PretextBatch(
        context=torch.randint(0, 256, (3, 3, k, s, s), dtype=torch.uint8, generator=gen),
        targets=torch.randint(0, 256, (3, m, 1, 3, s, s), dtype=torch.uint8, generator=gen),
        video=torch.tensor([0, 1, 2]),
    )
    return cfg, model, batch, gen


def test_a_duplicated_sample_changes_no_loss():
    """A batch holding a second copy of one video (as a replacement could make) gives the losses of
    the batch without it; counted as its own negative it would not."""
    cfg, model, batch, _ = three_videos(seed=1)
    dup = batch.map(lambda v: torch.cat([v, v[:1]]))  # video 0 twice
    with torch.no_grad():
        want, want_metrics = model(batch)
        got, got_metrics = model(dup)
        blind, _ = model(dataclasses.replace(dup, video=None))
    assert set(got) == set(want) and int(got_metrics["videos"]) == 3
    for name in want:
        torch.testing.assert_close(got[name], want[name])
    assert not torch.allclose(blind["contrastive"], want["contrastive"])  # the old behaviour differs
