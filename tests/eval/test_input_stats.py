"""The input statistics travel with the encoder (issue 18, fix 2): an ImageNet-inflated g is fed
ImageNet-standardised clips by every protocol, and its export card says so."""

from __future__ import annotations

import copy

import torch

from skipclip.eval.features import video_features
from skipclip.eval.finetune import build_classifier
from skipclip.models import FrameEncoder
from skipclip.models.normalize import IMAGENET_MEAN, IMAGENET_STD, MEAN, STD, input_stats_of, normalize
from skipclip.weights.export import export_encoders
from skipclip.weights.exported import load_exported as load_encoder
from skipclip.weights.initialise import initial_encoder

from helpers import FakeSource, tiny_cfg


def imagenet_inflated(tmp_path):
    """g inflated from a torchvision-format 2D ResNet-18 state dict (ImageNet weights' format)."""
    cfg = tiny_cfg()
    torch.manual_seed(0)
    path = tmp_path / "resnet18_2d.pt"
    torch.save(FrameEncoder(cfg.model.width).state_dict(), path)
    g, info = initial_encoder(cfg, inflate=path)
    return cfg, g, info


def test_an_imagenet_inflated_encoders_card_says_imagenet_statistics(tmp_path):
    cfg, g, info = imagenet_inflated(tmp_path)
    assert input_stats_of(g) == info["input_stats"] == "imagenet"
    clf = build_classifier(cfg, g, 2)  # a fine-tuned classifier checkpoint of it
    ckpt = tmp_path / "best.ckpt"
    torch.save({"state_dict": clf.state_dict(), "hyper_parameters": dict(clf.hparams)}, ckpt)
    card = export_encoders(ckpt, tmp_path / "export")
    stats = card["context_encoder"]["input"]
    assert stats["statistics"] == "imagenet"
    assert stats["mean"] == list(IMAGENET_MEAN) and stats["std"] == list(IMAGENET_STD)
    exported = tmp_path / "export" / "context_encoder.safetensors"
    assert input_stats_of(load_encoder(exported)) == "imagenet"  # the file carries them too ...
    again, _ = initial_encoder(cfg, str(exported))
    assert input_stats_of(again) == "imagenet"  # ... and so does --init FILE


def test_a_random_encoders_card_says_kinetics_statistics(tmp_path):
    cfg = tiny_cfg()
    g, _ = initial_encoder(cfg, "random")
    clf = build_classifier(cfg, g, 2)
    ckpt = tmp_path / "best.ckpt"
    torch.save({"state_dict": clf.state_dict(), "hyper_parameters": dict(clf.hparams)}, ckpt)
    stats = export_encoders(ckpt, tmp_path / "export")["context_encoder"]["input"]
    assert (stats["statistics"], stats["mean"], stats["std"]) == ("kinetics", list(MEAN), list(STD))


def test_frozen_features_follow_the_encoders_statistics(tmp_path):
    """Features (linear probe, kNN, retrieval) of an ImageNet-inflated g are computed on
    ImageNet-standardised clips: they differ from Kinetics-standardised ones."""
    _, g, _ = imagenet_inflated(tmp_path)
    src = FakeSource([4, 4, 4], size=16, num_classes=2)
    x_imagenet, _ = video_features(g, src, clip_len=4, crop_size=16)
    kinetics = copy.deepcopy(g)
    kinetics.input_stats = "kinetics"
    x_kinetics, _ = video_features(kinetics, src, clip_len=4, crop_size=16)
    assert not torch.allclose(torch.from_numpy(x_imagenet), torch.from_numpy(x_kinetics), atol=1e-4)
    clip = torch.from_numpy(src.read(1, range(4))).permute(3, 0, 1, 2)[None]  # 1 x 3 x T x S x S, one window
    with torch.no_grad():
        want = g.eval().pooled(normalize(clip, channel_dim=1, stats="imagenet"))[0]
    torch.testing.assert_close(torch.from_numpy(x_imagenet[1]), want, rtol=1e-4, atol=1e-5)
