"""Context encoder g, frame encoder f and heads: shapes, size laws, gradients, determinism."""

import pytest
import torch
import torchvision

from skipclip.models import (
    ClassifierHead,
    ContextEncoder,
    FrameEncoder,
    RotationHead,
)
from skipclip.models.context_encoder import ARCHS


@torch.no_grad()
def test_paper_size_context_encoder():
    """Sec. 4.1: a 16 x 224 x 224 context clip gives a 512 x 7 x 7 encoding."""
    torch.manual_seed(0)
    g = ContextEncoder("r3d18_hara", width=64).eval()
    x = torch.randn(1, 3, 16, 224, 224)
    trunk = g.trunk(x)
    assert trunk.shape == (1, 512, 1, 7, 7)
    h = g(x)
    assert h.shape == (1, 512, 7, 7)
    assert g.out_channels == 512
    torch.testing.assert_close(h, trunk[:, :, 0])  # one time step left: the mean is that step
    assert g.pooled(x).shape == (1, 512)


@torch.no_grad()
def test_paper_size_frame_encoder():
    torch.manual_seed(0)
    f = FrameEncoder(width=64).eval()
    assert f(torch.randn(1, 3, 224, 224)).shape == (1, 512, 7, 7)
    assert f.out_channels == 512


@pytest.mark.parametrize(
    "arch, t, s, expected",
    [
        # Hara: stem max-pool halves time and space, stages 2-4 halve them again: T/16, S/32.
        ("r3d18_hara", 16, 64, (8 * 8, 1, 2, 2)),
        ("r3d18_hara", 32, 96, (8 * 8, 2, 3, 3)),
        # torchvision stems keep time and stride space by 2: T/8, S/16.
        ("r3d_18", 16, 32, (8 * 8, 2, 2, 2)),
        ("r2plus1d_18", 16, 32, (8 * 8, 2, 2, 2)),
    ],
)
@torch.no_grad()
def test_small_width_size_law(arch, t, s, expected):
    g = ContextEncoder(arch, width=8).eval()
    x = torch.randn(2, 3, t, s, s)
    trunk = g.trunk(x)
    assert trunk.shape == (2, *expected)
    h = g(x)
    assert h.shape == (2, expected[0], expected[2], expected[3])
    torch.testing.assert_close(h, trunk.mean(dim=2))
    torch.testing.assert_close(g.pooled(x), trunk.mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("width", [4, 8, 16])
def test_stage_widths(width):
    g = ContextEncoder("r3d18_hara", width=width)
    f = FrameEncoder(width=width)
    stages_3d = [g.trunk.layer1, g.trunk.layer2, g.trunk.layer3, g.trunk.layer4]
    stages_2d = [f.layer1, f.layer2, f.layer3, f.layer4]
    for i, (stage_3d, stage_2d) in enumerate(zip(stages_3d, stages_2d)):
        assert stage_3d[-1].conv2[1].num_features == width * 2**i  # conv2 = (conv, BN)
        assert stage_2d[-1].bn2.num_features == width * 2**i
    assert g.out_channels == f.out_channels == 8 * width


@pytest.mark.parametrize("s, expected", [(32, 1), (64, 2), (224, 7)])
@torch.no_grad()
def test_frame_encoder_size_law(s, expected):
    f = FrameEncoder(width=8, in_channels=6).eval()
    assert f(torch.randn(3, 6, s, s)).shape == (3, 64, expected, expected)


@pytest.mark.parametrize(
    "arch, tv_builder",
    [("r3d_18", torchvision.models.video.r3d_18), ("r2plus1d_18", torchvision.models.video.r2plus1d_18)],
)
def test_width_64_matches_torchvision_layout(arch, tv_builder):
    """At width 64 the trunks are torchvision's models minus fc: their state dicts load strictly."""
    reference = {k: v for k, v in tv_builder().state_dict().items() if not k.startswith("fc.")}
    g = ContextEncoder(arch, width=64)
    g.trunk.load_state_dict(reference, strict=True)
    torch.testing.assert_close(g.trunk.stem[0].weight, reference["stem.0.weight"])


def test_frame_encoder_width_64_matches_torchvision_resnet18():
    reference = {k: v for k, v in torchvision.models.resnet18().state_dict().items() if not k.startswith("fc.")}
    FrameEncoder(width=64).load_state_dict(reference, strict=True)


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_reach_every_parameter(arch):
    torch.manual_seed(0)
    g = ContextEncoder(arch, width=4)
    f = FrameEncoder(width=4, in_channels=3)
    rot = RotationHead(f.out_channels)
    h = g(torch.randn(2, 3, 16, 32, 32))
    z = f(torch.randn(2, 3, 32, 32))
    loss = h.square().mean() + z.square().mean() + rot(z).square().mean()
    loss.backward()
    for module in (g, f, rot):
        for name, p in module.named_parameters():
            assert p.grad is not None, name
            assert p.grad.abs().sum() > 0, name


def test_seeded_determinism():
    x = torch.randn(2, 3, 16, 32, 32)
    frames = torch.randn(2, 3, 32, 32)
    outputs = []
    for _ in range(2):
        torch.manual_seed(123)
        g = ContextEncoder("r3d18_hara", width=4).eval()
        f = FrameEncoder(width=4).eval()
        with torch.no_grad():
            outputs.append((g(x), f(frames)))
    torch.testing.assert_close(outputs[0][0], outputs[1][0], rtol=0, atol=0)
    torch.testing.assert_close(outputs[0][1], outputs[1][1], rtol=0, atol=0)
    torch.manual_seed(124)
    other = ContextEncoder("r3d18_hara", width=4).eval()
    with torch.no_grad():
        assert not torch.allclose(other(x), outputs[0][0])


def test_context_encoder_by_name_and_bad_arguments():
    g = ContextEncoder("r3d_18", width=4)
    assert isinstance(g, ContextEncoder) and g.arch == "r3d_18" and g.out_channels == 32
    with pytest.raises(ValueError, match="r3d18_hara.*r3d_18.*r2plus1d_18"):
        ContextEncoder("resnet50")
    with pytest.raises(ValueError, match="width"):
        ContextEncoder(width=0)
    with pytest.raises(ValueError, match="in_channels"):
        FrameEncoder(in_channels=0)
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        ContextEncoder(width=4)(torch.randn(2, 16, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, 6, H, W\)"):
        FrameEncoder(width=4, in_channels=6)(torch.randn(2, 3, 32, 32))


def test_heads():
    torch.manual_seed(0)
    rot = RotationHead(32)
    z = torch.randn(5, 32, 3, 3)
    logits = rot(z)
    assert logits.shape == (5, 4)
    torch.testing.assert_close(logits, rot.fc(z.mean(dim=(2, 3))))
    cls = ClassifierHead(32, num_classes=101, dropout=0.5).eval()
    x5 = torch.randn(2, 32, 2, 3, 3)
    torch.testing.assert_close(cls(x5), cls.fc(x5.mean(dim=(2, 3, 4))))
    x4 = torch.randn(2, 32, 3, 3)
    assert cls(x4).shape == (2, 101)
    with pytest.raises(ValueError, match="32"):
        rot(torch.randn(5, 16, 3, 3))
    with pytest.raises(ValueError, match="dropout"):
        ClassifierHead(32, 10, dropout=1.0)


def test_type_a_shortcut_pads_zeros_and_subsamples():
    from skipclip.models.context_encoder import ZeroPadShortcut

    x = torch.randn(2, 8, 4, 6, 6)
    y = ZeroPadShortcut(16, (2, 2, 2))(x)
    assert y.shape == (2, 16, 2, 3, 3)
    assert torch.equal(y[:, :8], x[:, :, ::2, ::2, ::2]) and not y[:, 8:].any()


def test_type_a_context_encoder_has_no_shortcut_weights_and_learns_everywhere():
    a, b = ContextEncoder("r3d18_hara", 8, "A"), ContextEncoder("r3d18_hara", 8, "B")
    names_a = {n for n, _ in a.named_parameters()}
    assert not any(".downsample." in n for n in names_a)
    assert names_a < {n for n, _ in b.named_parameters()}  # B adds the 1x1x1 convs + BN of 3 stages
    extra = sum(p.numel() for n, p in b.named_parameters() if ".downsample." in n)
    assert extra == (8 * 16 + 2 * 16) + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    x = torch.randn(2, 3, 8, 32, 32)
    h = a(x)
    assert h.shape == b(x).shape == (2, 64, 1, 1)
    h.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in a.parameters())
    with pytest.raises(ValueError, match="shortcut must be 'A'"):
        ContextEncoder("r3d18_hara", 8, "C")


def test_the_shortcut_type_follows_the_weights(tmp_path):
    """A Skip-Clip checkpoint with type A shortcuts is read back as type A; inflation always fills
    type B, whatever model.shortcut says."""
    from skipclip.method import build_skipclip
    from skipclip.weights.initialise import initial_encoder

    from helpers import tiny_cfg

    cfg = tiny_cfg(model={"width": 8, "shortcut": "A"})
    model = build_skipclip(cfg)
    assert model.context_encoder.shortcut == "A"
    ckpt = tmp_path / "a.ckpt"
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {"config": cfg.to_dict()},
        },
        ckpt,
    )
    g, info = initial_encoder(tiny_cfg(model={"width": 8}), str(ckpt))
    assert g.shortcut == info["shortcut"] == "A"
    inflated, info = initial_encoder(cfg, inflate=str(ckpt))
    assert inflated.shortcut == info["shortcut"] == "B"


@pytest.mark.parametrize("arch", ["r3d18_hara", "r3d_18", "r2plus1d_18"])
def test_last_stride_one_doubles_the_cell_grid_with_the_same_weights(arch):
    from skipclip.models import ContextEncoder, FrameEncoder

    for shortcut in ("A", "B"):
        coarse, fine = (ContextEncoder(arch, 8, shortcut, last_stride=s) for s in (2, 1))
        shapes = [{k: v.shape for k, v in m.state_dict().items()} for m in (coarse, fine)]
        assert shapes[0] == shapes[1]
        fine.load_state_dict(coarse.state_dict())
        clip = torch.randn(2, 3, 8, 64, 64)
        h, w = coarse(clip).shape[-2:]
        assert fine(clip).shape[-2:] == (2 * h, 2 * w)  # hara at 64 px: 2 x 2 -> 4 x 4
    f2, f1 = FrameEncoder(8, last_stride=2), FrameEncoder(8, last_stride=1)
    f1.load_state_dict(f2.state_dict())
    assert f2(torch.randn(2, 3, 64, 64)).shape[-2:] == (2, 2) and f1(torch.randn(2, 3, 64, 64)).shape[-2:] == (4, 4)
    with pytest.raises(ValueError, match="last_stride"):
        FrameEncoder(8, last_stride=3)
