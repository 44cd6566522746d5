"""Inflation of a 2D ResNet-18 into the 3D context encoder.

The exact property: on a clip of identical frames, an inflated 3D convolution computes the 2D
convolution of the frame at every time step whose kernel window lies inside the clip; at the
borders zero temporal padding removes part of the sum. Max-pooling pads with -inf, so it keeps a
time-constant input constant. So, in eval mode, the trunk's output equals the 2D network's at
the time steps whose whole temporal dependency cone avoids the padding ("clean" steps, computed
below from the layers' kernels, strides and paddings), and differs near the borders.
"""

import pytest
import torch
import torchvision
from torch import nn

from skipclip.models import ContextEncoder, FrameEncoder, inflate_2d_into_3d


def _conv_clean(interval, n, k, s, p):
    """Clean output steps of a zero-padded conv over ``n`` steps whose clean inputs are ``interval``."""
    lo, hi = interval
    n_out = (n + 2 * p - k) // s + 1
    clean = [t for t in range(n_out) if t * s - p >= lo and t * s - p + k - 1 <= hi]
    return (clean[0], clean[-1]) if clean else (1, 0), n_out


def _pool_clean(interval, n, k, s, p):
    """Same for a max-pool: -inf padding is harmless, only in-range contaminated steps matter."""
    lo, hi = interval
    n_out = (n + 2 * p - k) // s + 1
    clean = [t for t in range(n_out) if max(t * s - p, 0) >= lo and min(t * s - p + k - 1, n - 1) <= hi]
    return (clean[0], clean[-1]) if clean else (1, 0), n_out


def _time(conv):
    return conv.kernel_size[0], conv.stride[0], conv.padding[0]


def clean_steps(trunk, n):
    """Time steps of the trunk output that see no temporal zero padding, for an ``n``-frame clip."""
    interval = (0, n - 1)
    interval, n = _conv_clean(interval, n, *_time(trunk.stem[0]))
    pool = trunk.stem[3]
    interval, n = _pool_clean(interval, n, pool.kernel_size, pool.stride, pool.padding)
    for stage in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4):
        for block in stage:
            main, n_main = _conv_clean(interval, n, *_time(block.conv1[0]))
            main, n_main = _conv_clean(main, n_main, *_time(block.conv2[0]))
            if block.downsample is not None:
                skip, _ = _conv_clean(interval, n, *_time(block.downsample[0]))
                main = (max(main[0], skip[0]), min(main[1], skip[1]))
            interval, n = main, n_main
    return list(range(interval[0], interval[1] + 1)), n


def _randomise_bn(model):
    """Non-trivial BN statistics and affine parameters, so copying them is tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.3)


@pytest.fixture
def frame_encoder():
    torch.manual_seed(0)
    f = FrameEncoder(width=8)
    _randomise_bn(f)
    return f.eval()


def test_weights_are_inflated_and_bn_copied(frame_encoder):
    g = ContextEncoder("r3d18_hara", width=8)
    report = inflate_2d_into_3d(frame_encoder.state_dict(), g)
    assert len(report.inflated) == 20  # stem + 16 block convs + 3 downsamples
    assert len(report.copied) == 20 * 5  # weight, bias, running mean/var, num_batches_tracked
    assert report.ignored == []
    sd2, sd3 = frame_encoder.state_dict(), g.trunk.state_dict()
    assert sd3["stem.0.weight"].shape == (8, 3, 7, 7, 7)
    for key_3d, key_2d, kt in report.inflated:
        w3 = sd3[key_3d]
        assert w3.shape[2] == kt
        torch.testing.assert_close(w3.sum(dim=2), sd2[key_2d])  # kernel mass over time = 2D kernel
        torch.testing.assert_close(w3[:, :, 0], w3[:, :, -1])  # repeated along time
    for key_3d, key_2d in report.copied:
        torch.testing.assert_close(sd3[key_3d], sd2[key_2d])
    torch.testing.assert_close(sd3["layer2.0.conv1.1.running_var"], sd2["layer2.0.bn1.running_var"])


@torch.no_grad()
def test_stem_conv_equals_2d_at_interior_time_steps(frame_encoder):
    """16 identical frames: the 7x7x7 stem conv equals the 2D conv1 at steps 3..12, not at the borders."""
    g = ContextEncoder("r3d18_hara", width=8).eval()
    inflate_2d_into_3d(frame_encoder.state_dict(), g)
    frame = torch.randn(2, 3, 32, 32)
    clip = frame.unsqueeze(2).expand(-1, -1, 16, -1, -1)  # B x 3 x 16 x H x W
    y3 = g.trunk.stem[0](clip)  # B x w x 16 x H/2 x W/2
    y2 = frame_encoder.conv1(frame)  # B x w x H/2 x W/2
    for t in range(3, 13):
        torch.testing.assert_close(y3[:, :, t], y2, rtol=1e-4, atol=1e-5)
    for t in (0, 1, 2, 13, 14, 15):
        assert not torch.allclose(y3[:, :, t], y2, rtol=1e-2, atol=1e-2)


@torch.no_grad()
def test_trunk_equals_2d_network_at_clean_time_steps(frame_encoder):
    """The whole inflated trunk reproduces the 2D layer4 map away from the temporal borders."""
    g = ContextEncoder("r3d18_hara", width=8).eval()
    inflate_2d_into_3d(frame_encoder.state_dict(), g)
    n_frames = 256
    clean, n_out = clean_steps(g.trunk, n_frames)
    assert n_out == n_frames // 16
    assert len(clean) >= 3  # 256 frames leave a few steps untouched by padding
    frame = torch.randn(1, 3, 32, 32)
    clip = frame.unsqueeze(2).expand(-1, -1, n_frames, -1, -1).contiguous()  # 1 x 3 x T x H x W
    y3 = g.trunk(clip)  # 1 x 8w x T/16 x 1 x 1
    y2 = frame_encoder(frame)  # 1 x 8w x 1 x 1
    assert y3.shape[2] == n_out
    scale = y2.abs().max()
    for t in clean:
        torch.testing.assert_close(y3[:, :, t], y2, rtol=1e-4, atol=1e-4 * scale)
    for t in (0, n_out - 1):  # padding reaches the borders
        assert (y3[:, :, t] - y2).abs().max() > 1e-2 * scale


def test_torchvision_resnet18_state_dict_inflates_into_r3d_18():
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    g = ContextEncoder("r3d_18", width=64)
    report = inflate_2d_into_3d(sd, g)
    assert sorted(report.ignored) == ["fc.bias", "fc.weight"]
    w = g.trunk.stem[0].weight  # 64 x 3 x 3 x 7 x 7: BasicStem has a 3-step kernel
    assert w.shape == (64, 3, 3, 7, 7)
    torch.testing.assert_close(w[:, :, 1] * 3, sd["conv1.weight"])


def test_errors(frame_encoder):
    sd = frame_encoder.state_dict()
    with pytest.raises(ValueError, match="r2plus1d_18"):
        inflate_2d_into_3d(sd, ContextEncoder("r2plus1d_18", width=8))
    with pytest.raises(ValueError, match=r"conv1\.weight.*\(8, 6, 7, 7\).*stem\.0\.weight.*\(8, 3, 7, 7, 7\)"):
        inflate_2d_into_3d(FrameEncoder(width=8, in_channels=6).state_dict(), ContextEncoder(width=8))
    with pytest.raises(ValueError, match="shape"):
        inflate_2d_into_3d(sd, ContextEncoder(width=16))
    partial = {k: v for k, v in sd.items() if not k.startswith("layer4.1.")}
    with pytest.raises(ValueError, match="layer4.1"):
        inflate_2d_into_3d(partial, ContextEncoder(width=8))
    with pytest.raises(ValueError, match="head.weight"):
        inflate_2d_into_3d({**sd, "head.weight": torch.zeros(1)}, ContextEncoder(width=8))


def test_imagenet_inflation_standardises_with_imagenet_statistics(tmp_path):
    """torchvision's ImageNet weights expect ImageNet mean/std: a g inflated from them is fed
    clips standardised that way; a random or Skip-Clip g keeps the Kinetics statistics."""
    from skipclip.eval.finetune import build_classifier
    from skipclip.models.normalize import IMAGENET_MEAN, IMAGENET_STD, MEAN, STD, normalize
    from skipclip.weights.initialise import initial_encoder

    from helpers import tiny_cfg

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=4).state_dict(), path)
    cfg = tiny_cfg(model={"width": 8})
    g, info = initial_encoder(cfg, inflate=str(path))
    assert info["input_stats"] == "imagenet" and build_classifier(cfg, g, 3).input_stats == "imagenet"
    random_g, _ = initial_encoder(cfg)
    assert build_classifier(cfg, random_g, 3).input_stats == "kinetics"
    grey = torch.full((1, 3, 1, 1, 1), 128, dtype=torch.uint8)
    for stats, mean, std in (("imagenet", IMAGENET_MEAN, IMAGENET_STD), ("kinetics", MEAN, STD)):
        want = torch.tensor([(128 / 255 - m) / s for m, s in zip(mean, std)]).view(1, 3, 1, 1, 1)
        torch.testing.assert_close(normalize(grey, 1, stats=stats), want)
