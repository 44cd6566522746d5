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
    torch.save(
        {"state_dict": state, "hyper_parameters": {"config": cfg.to_dict()}, "epoch": 3, "global_step": 48}, path
    )
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
    from torchvision.models.video.resnet import VideoResNet

    model, _ = _checkpoint(tmp_path / "last.ckpt", "r3d18_hara", 8)
    assert (
        main(["export", "--ckpt", str(tmp_path / "last.ckpt"), "--out", str(tmp_path / "exp"), "--frame-encoder"]) == 0
    )
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
    w64, _ = _checkpoint(tmp_path / "w64.ckpt", "r3d18_hara", 64)
    assert main(["export", "--ckpt", str(tmp_path / "w64.ckpt"), "--out", str(tmp_path / "w64")]) == 0
    g64 = json.loads((tmp_path / "w64" / "card.json").read_text())["context_encoder"]
    assert "'recipe'" in g64["how_to_load"]
    assert any("MaxPool3d(3, stride=2, padding=1)" in line for line in g64["recipe"])
    tv = _run_recipe(g64["recipe"], tmp_path / "w64" / "context_encoder.safetensors")
    assert isinstance(tv, VideoResNet)
    with torch.no_grad():
        torch.testing.assert_close(tv(x), w64.context_encoder.pooled(x), rtol=1e-4, atol=1e-5)


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


def _run_recipe(lines: list[str], path) -> nn.Module:
    """Run a card's recipe as a user would: torch, torchvision and safetensors only."""
    scope = {"path": str(path)}
    exec("\n".join(lines), scope)  # noqa: S102 - the card's text is the thing under test
    model = scope["model"]
    assert not any(type(m).__module__.startswith("skipclip") for m in model.modules())
    return model


@pytest.mark.parametrize("arch", ["r3d18_hara", "r3d_18", "r2plus1d_18"])
@pytest.mark.parametrize("shortcut", ["A", "B"])
@pytest.mark.parametrize("last_stride", [2, 1])
def test_every_preset_encoder_round_trips_through_export_load_and_the_card_recipe(
    tmp_path, arch, shortcut, last_stride
):
    """Issue 21 case 4: build, export, load (skipclip.load_encoder and the card's recipe without
    skipclip), same outputs on a random input; g of every arch and shortcut type, and f; with the
    paper's last stage and with ``model.last_stride: 1`` (issue 26: the card's recipe built stride 2)."""
    cfg = load_config(
        "cpu",
        {**tiny_overrides(), "model.context_arch": arch, "model.shortcut": shortcut, "model.last_stride": last_stride},
    )
    torch.manual_seed(0)
    model = build_skipclip(cfg)
    with torch.no_grad():  # non-trivial BN statistics
        model.context_encoder.train()(torch.randn(2, 3, 4, 32, 32))
        model.frame_encoder.train()(torch.randn(4, 3, 32, 32))
    model.eval()
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {"config": cfg.to_dict()},
        },
        tmp_path / "last.ckpt",
    )
    assert (
        main(["export", "--ckpt", str(tmp_path / "last.ckpt"), "--out", str(tmp_path / "exp"), "--frame-encoder"]) == 0
    )
    card = json.loads((tmp_path / "exp" / "card.json").read_text())
    assert card["context_encoder"]["shortcut"] == shortcut
    assert card["context_encoder"]["last_stride"] == card["frame_encoder"]["last_stride"] == last_stride
    x, frames = torch.randn(2, 3, 4, 32, 32), torch.randn(3, 3, 32, 32)
    g = skipclip.load_encoder(tmp_path / "exp" / "context_encoder.safetensors")
    f = skipclip.load_encoder(tmp_path / "exp" / "frame_encoder.safetensors")
    assert (g.arch, g.width, g.shortcut) == (arch, 8, shortcut)
    g_recipe = _run_recipe(card["context_encoder"]["recipe"], tmp_path / "exp" / "context_encoder.safetensors")
    f_recipe = _run_recipe(card["frame_encoder"]["recipe"], tmp_path / "exp" / "frame_encoder.safetensors")
    for mine, theirs in ((model.context_encoder, g), (model.frame_encoder, f)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        torch.testing.assert_close(g(x), model.context_encoder(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(f(frames), model.frame_encoder(frames), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(g_recipe(x), model.context_encoder.pooled(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(f_recipe(frames), model.frame_encoder(frames).mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)


def test_the_torchvision_one_liner_is_offered_only_where_it_builds_the_encoder():
    from skipclip.weights.export import how_to_load

    assert how_to_load("r3d_18", 64, "B").startswith("m = torchvision.models.video.r3d_18()")
    for arch, width, shortcut in (
        ("r3d_18", 64, "A"),
        ("r2plus1d_18", 64, "A"),
        ("r3d_18", 32, "B"),
        ("r3d18_hara", 64, "B"),
    ):
        how = how_to_load(arch, width, shortcut)
        assert how.startswith("skipclip.load_encoder(path)") and "'recipe'" in how
    assert "zero-padding (type A)" in how_to_load("r3d_18", 64, "A")
