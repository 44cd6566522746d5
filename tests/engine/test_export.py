"""`skipclip export`: safetensors files that load strictly into torchvision's models and give the
checkpoint encoder's features, round-trip through `skipclip.load_encoder`, and start g again
through --init / --inflate."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import skipclip
from skipclip.cli import main
from skipclip.config import load_config
from skipclip.method import build_skipclip
from skipclip.weights.initialise import initial_encoder

from helpers import tiny_overrides

safetensors_torch = pytest.importorskip("safetensors.torch")


def _checkpoint(path, arch: str, width: int):
    """A Skip-Clip checkpoint laid out as SkipClipModule writes it, with non-trivial BN statistics."""
    cfg = load_config("cpu", {**tiny_overrides(), "model.context_arch": arch, "model.width": width})
    torch.manual_seed(0)
    model = build_skipclip(cfg)
    with torch.no_grad():  # move the running statistics off their initial 0 / 1
        model.context_encoder.train()(torch.randn(2, 3, 4, 32, 32))
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"config": cfg.to_dict()}, "epoch": 3,
                "global_step": 48}, path)
    return model.eval(), cfg


@pytest.mark.parametrize("arch", ["r3d_18", "r2plus1d_18"])
def test_torchvision_arch_loads_strictly_and_gives_the_same_features(tmp_path, arch):
    import torchvision

    model, _ = _checkpoint(tmp_path / "last.ckpt", arch, 64)
    assert main(["export", "--ckpt", str(tmp_path / "last.ckpt"), "--out", str(tmp_path / "exp")]) == 0
    weights = safetensors_torch.load_file(str(tmp_path / "exp" / "context_encoder.safetensors"))
    tv = getattr(torchvision.models.video, arch)()
    tv.fc = nn.Identity()
    tv.load_state_dict(weights, strict=True)  # no missing, no unexpected key
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        ours, theirs = model.context_encoder.pooled(x), tv.eval()(x)
    assert theirs.shape == (2, 512)
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-5)
    card = json.loads((tmp_path / "exp" / "card.json").read_text())
    g = card["context_encoder"]
    assert (g["arch"], g["width"], g["input"]["frames"], g["input"]["size"]) == (arch, 64, 4, [32, 32])
    assert g["input"]["channel_order"] == "RGB" and len(g["input"]["mean"]) == 3
    assert f"torchvision.models.video.{arch}()" in g["how_to_load"]
    assert (card["epochs"], card["steps"], card["skipclip_version"]) == (3, 48, skipclip.__version__)
    assert card["pretext"]["context_frames"] == 4 and card["config"]["model"]["context_arch"] == arch


def test_hara_variant_round_trips_and_the_card_recipe_is_true(tmp_path):
    from torchvision.models.video.resnet import BasicBlock, Conv3DSimple, VideoResNet

    model, _ = _checkpoint(tmp_path / "last.ckpt", "r3d18_hara", 8)
    assert main(["export", "--ckpt", str(tmp_path / "last.ckpt"), "--out", str(tmp_path / "exp"),
                 "--frame-encoder"]) == 0
    g = skipclip.load_encoder(tmp_path / "exp" / "context_encoder.safetensors")
    f = skipclip.load_encoder(tmp_path / "exp" / "frame_encoder.safetensors")
    assert not g.training and (g.arch, g.width) == ("r3d18_hara", 8)
    for mine, theirs in ((model.context_encoder, g), (model.frame_encoder, f)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(g(x), model.context_encoder(x))
    # the card's recipe without skipclip, checked at width 64
    _checkpoint(tmp_path / "w64.ckpt", "r3d18_hara", 64)
    assert main(["export", "--ckpt", str(tmp_path / "w64.ckpt"), "--out", str(tmp_path / "w64")]) == 0
    how = json.loads((tmp_path / "w64" / "card.json").read_text())["context_encoder"]["how_to_load"]
    assert "VideoResNet(BasicBlock, [Conv3DSimple] * 4" in how and "MaxPool3d(3, stride=2, padding=1)" in how
    stem = lambda: nn.Sequential(nn.Conv3d(3, 64, 7, stride=(1, 2, 2), padding=3, bias=False),  # noqa: E731
                                 nn.BatchNorm3d(64), nn.ReLU(inplace=True), nn.MaxPool3d(3, stride=2, padding=1))
    tv = VideoResNet(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], stem=stem)
    tv.fc = nn.Identity()
    tv.load_state_dict(safetensors_torch.load_file(str(tmp_path / "w64" / "context_encoder.safetensors")), strict=True)


def test_init_and_inflate_accept_exported_files(tmp_path, capsys):
    model, cfg = _checkpoint(tmp_path / "last.ckpt", "r3d18_hara", 8)
    exp = tmp_path / "exp"
    assert main(["export", "--ckpt", str(tmp_path / "last.ckpt"), "--out", str(exp), "--frame-encoder"]) == 0
    assert main(["export", "--ckpt", str(tmp_path / "last.ckpt"), "--out", str(exp)]) == 2  # no overwrite
    assert "--force" in capsys.readouterr().err
    g, info = initial_encoder(load_config("cpu", tiny_overrides()), str(exp / "context_encoder.safetensors"))
    assert (info["init"], info["arch"], info["width"]) == ("skipclip", "r3d18_hara", 8)
    assert all(torch.equal(v, model.context_encoder.state_dict()[k]) for k, v in g.state_dict().items())
    g2, info2 = initial_encoder(cfg, inflate=str(exp / "frame_encoder.safetensors"))
    assert info2["init"] == "inflation" and info2["inflated_kernels"] > 0
    conv = g2.trunk.layer1[0].conv1[0].weight  # 3D kernel from f's 2D one, divided by its depth
    f_w = model.frame_encoder.layer1[0].conv1.weight
    torch.testing.assert_close(conv.sum(2), f_w)
    # an exported Skip-Clip f was trained on Kinetics-standardised frames: inflated, g keeps them
    # (a bare torchvision 2D state dict means ImageNet weights: tests/eval/test_input_stats.py)
    assert g.input_stats == g2.input_stats == info2["input_stats"] == "kinetics"
    with pytest.raises(ValueError, match="--init FILE"):
        initial_encoder(cfg, inflate=str(exp / "context_encoder.safetensors"))


def test_a_pretraining_runs_own_checkpoint_exports(tmp_path, tiny_pretrained_run):
    """The checkpoint a pretraining run wrote (not one laid out by hand): both encoders come out
    equal to its weights, and the card tells its training."""
    ckpt = tiny_pretrained_run / "checkpoints" / "last.ckpt"
    assert main(["export", "--ckpt", str(ckpt), "--out", str(tmp_path / "exp"), "--frame-encoder"]) == 0
    trained = torch.load(ckpt, map_location="cpu", weights_only=True)
    for name in ("context_encoder", "frame_encoder"):
        enc = skipclip.load_encoder(tmp_path / "exp" / f"{name}.safetensors")
        mine = {k: v for k, v in enc.state_dict().items() if not k.endswith("num_batches_tracked")}
        assert mine and all(torch.equal(v, trained["state_dict"][f"model.{name}.{k}"]) for k, v in mine.items())
    card = json.loads((tmp_path / "exp" / "card.json").read_text())
    assert (card["epochs"], card["steps"]) == (trained["epoch"], trained["global_step"]) and card["steps"] == 48
