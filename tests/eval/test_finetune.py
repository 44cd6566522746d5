"""Fine-tuning and evaluation end to end on generated video files, and the bad inputs they refuse."""

import json

import pytest
import torch

from skipclip.cli import main
from skipclip.config import load_config
from skipclip.eval.finetune_inputs import check_sources
from skipclip.method import build_skipclip
from skipclip.models import FrameEncoder
from skipclip.weights.initialise import initial_encoder

from helpers import tiny_config
from video_factory import make_ucf101


def write_tiny(path):
    """The tiny configuration with 8-frame clips and windows, short side 36 and a finetune section."""
    return tiny_config(
        path,
        pretext={"context_frames": 8, "num_targets": 4, "sampling_rate": 2},
        data={"short_side": 36, "val_fraction": 0.3},
        finetune={"max_epochs": 1, "batch_size": 8, "lr_step_epochs": 1, "lr_last_step_epoch": 2},
    )


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    make_ucf101(root, groups=4, test_groups=2, frames=24)  # 3 classes, 24 videos of 24 frames
    write_tiny(root / "tiny.yaml")
    return root


def _skipclip_ckpt(path, cfg):
    torch.manual_seed(0)
    model = build_skipclip(cfg)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}  # as SkipClipModule checkpoints it
    torch.save({"state_dict": state, "hyper_parameters": {"config": cfg.to_dict()}}, path)
    return model


@pytest.mark.e2e
def test_finetune_then_evaluate_end_to_end(videos, tmp_path, capsys, report_writes):
    cfg_path = str(videos / "tiny.yaml")
    ckpt = tmp_path / "skipclip.ckpt"
    _skipclip_ckpt(ckpt, load_config(cfg_path))
    out = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                "--data",
                str(videos),
                "--out",
                str(out),
                "--init",
                str(ckpt),
                "--config",
                cfg_path,
                "--no-progress",
            ]
        )
        == 0
    )
    assert ("renamed", str(out / "report.json")) in report_writes  # atomically: a temporary file renamed over it
    assert {how for how, _ in report_writes} == {"renamed"}  # no report of the run written in place
    report = json.loads((out / "report.json").read_text())
    (r,) = report["results"]
    assert r["protocol"] == "finetune" and r["init"] == "skipclip"
    assert r["test_videos"] == 12 and (r["top5"] is None or r["top1"] <= r["top5"])  # top-5 only above 5 classes
    # video accuracy counts videos (12), clip accuracy windows (36): each a whole number of hits
    assert r["top1"] * 12 == pytest.approx(round(r["top1"] * 12)) and 0 <= round(r["top1"] * 12) <= 12
    assert r["clip_top1"] * 36 == pytest.approx(round(r["clip_top1"] * 36))
    card = report["protocol_card"]["finetune"]
    assert card["frames"] == 8 and card["window_stride"] == 8 and card["test_crop"] == "centre 32x32"
    assert card["windows_per_video"] == {"min": 3, "mean": 3.0, "max": 3, "total": 36, "videos": 12}
    assert "averaged" in card["score_averaging"] and "validation" in card["model_selection"]
    assert report["history"]["epochs"] == 1

    js = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(videos),
                "--ckpt",
                str(out / "checkpoints" / "best.ckpt"),
                "--json",
                str(js),
                "--no-progress",
            ]
        )
        == 0
    )
    ev = json.loads(js.read_text())
    protocols = [x["protocol"] for x in ev["results"]]
    assert protocols == ["finetune", "linear_probe", "retrieval", "knn"]
    assert ev["results"][0]["top1"] == pytest.approx(r["top1"])  # the same classifier, tested again
    rec = ev["results"][2]["recall"]
    assert list(rec) == ["1", "5", "10", "20", "50"] and rec["50"] == 1.0  # 12-video gallery
    assert all(rec[a] <= rec[b] for a, b in zip(list(rec), list(rec)[1:]))
    assert set(ev["protocol_card"]) == {"finetune", "linear_probe", "retrieval", "knn"}
    knn = ev["results"][3]
    assert knn["k"] == min(20, knn["gallery"]) and knn["queries"] == 12
    assert 0 <= knn["top1"] <= 1 and knn["top5"] is None  # 3 classes: no top-5 (it would hold every label)
    assert ev["protocol_card"]["knn"]["temperature"] == 0.07


def test_wrong_kind_of_checkpoint_is_refused_before_any_file(videos, tmp_path, capsys):
    sd = tmp_path / "resnet2d.pth"
    torch.save(FrameEncoder(8).state_dict(), sd)  # torchvision-format 2D ResNet keys
    out = tmp_path / "never"
    assert (
        main(
            [
                "finetune",
                "--data",
                str(videos),
                "--out",
                str(out),
                "--init",
                str(sd),
                "--config",
                str(videos / "tiny.yaml"),
            ]
        )
        == 2
    )
    assert "--inflate" in capsys.readouterr().err and not out.exists()
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    assert main(["evaluate", "--data", str(videos), "--ckpt", str(junk)]) == 2
    assert "not a PyTorch checkpoint" in capsys.readouterr().err


def test_shape_mismatch_names_the_key(tmp_path):
    cfg = load_config("cpu", {"model.width": 8})
    sd = FrameEncoder(8).state_dict()
    sd["layer2.0.conv1.weight"] = torch.zeros(16, 8, 5, 5)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="layer2.0.conv1.weight"):
        initial_encoder(cfg, inflate=tmp_path / "bad.pth")
    ckpt = tmp_path / "w16.ckpt"
    _skipclip_ckpt(ckpt, load_config("cpu", {"model.width": 16}))
    obj = torch.load(ckpt, weights_only=True)
    obj["state_dict"]["model.context_encoder.trunk.layer1.0.conv1.0.weight"] = torch.zeros(1)
    torch.save(obj, ckpt)
    with pytest.raises(ValueError, match="context_encoder|layer1.0.conv1.0.weight"):
        initial_encoder(cfg, str(ckpt))


def test_inflating_a_skipclip_frame_encoder(tmp_path):
    cfg = load_config("cpu", {"model.width": 8})
    model = _skipclip_ckpt(tmp_path / "s.ckpt", cfg)
    g, info = initial_encoder(cfg, inflate=tmp_path / "s.ckpt")
    assert info["init"] == "inflation" and "frame encoder" in info["source"]
    w2d = model.frame_encoder.conv1.weight  # O x 3 x 7 x 7
    w3d = g.trunk.stem[0].weight  # O x 3 x 7 x 7 x 7
    torch.testing.assert_close(w3d, w2d.unsqueeze(2).repeat(1, 1, 7, 1, 1) / 7)
    with pytest.raises(ValueError, match="not both"):
        initial_encoder(cfg, str(tmp_path / "s.ckpt"), inflate=tmp_path / "s.ckpt")


def test_class_count_mismatch_is_named(videos, tmp_path, capsys):
    from skipclip.eval.finetune import build_classifier
    from skipclip.models import ContextEncoder

    cfg = load_config(str(videos / "tiny.yaml"))
    clf = build_classifier(cfg, ContextEncoder("r3d18_hara", 8), num_classes=5)
    torch.save({"state_dict": clf.state_dict(), "hyper_parameters": dict(clf.hparams)}, tmp_path / "c.ckpt")
    js = tmp_path / "never.json"
    assert main(["evaluate", "--data", str(videos), "--ckpt", str(tmp_path / "c.ckpt"), "--json", str(js)]) == 2
    err = capsys.readouterr().err
    assert "5 classes" in err and "has 3" in err and not js.exists()


class _Src:
    classes = ["a", "b"]

    def __init__(self, lengths):
        self.lengths = lengths

    def __len__(self):
        return len(self.lengths)

    def num_frames(self, i):
        return self.lengths[i]

    def label(self, i):
        return i % 2

    def name(self, i):
        return f"clip{i}"


def test_short_test_video_is_refused_with_its_name():
    with pytest.raises(ValueError, match=r"clip1 \(5 frames\).*clip_frames"):
        check_sources(_Src([40, 40]), None, _Src([40, 5]), clip_frames=8)
    check_sources(_Src([40, 40]), None, _Src([40, 8]), clip_frames=8)  # exactly one window is fine


def test_finetune_trains_an_encoder_handed_over_in_eval_mode():
    """An encoder left in eval mode (after feature extraction) must still be fine-tuned with
    BatchNorm in training mode: its running statistics move."""
    import torch

    from skipclip.config import load_config
    from skipclip.data.sources.synthetic import SyntheticSource
    from skipclip.eval.finetune import finetune
    from skipclip.models import ContextEncoder

    cfg = load_config(
        "cpu",
        {
            "model.width": 4,
            "pretext.context_frames": 4,
            "data.crop_size": 32,
            "data.short_side": 32,
            "data.synthetic_size": 32,
            "data.synthetic_frames": 24,
            "finetune.batch_size": 4,
            "finetune.val_every": 1,
        },
    )
    src = SyntheticSource(num_classes=2, videos_per_class=2, frames=8, size=32)
    enc = ContextEncoder("r3d18_hara", 4).eval()
    before = enc.trunk.stem[1].running_mean.clone()
    model, _ = finetune(cfg, enc, src, None, epochs=1)
    assert not torch.equal(model.encoder.trunk.stem[1].running_mean, before)


def test_finetuning_flips_follow_the_setting():
    """The paper names only random crops for fine-tuning (section 4.2): ``finetune.flip_prob`` is
    0 in the paper preset (no clip is flipped) and 0.5 in the CPU presets; the card says which."""
    from skipclip.config import finetune_settings
    from skipclip.eval.finetune import train_clips
    from skipclip.eval.report import finetune_card

    from helpers import FakeSource

    class Gradient(FakeSource):  # left half dark, right half bright: a flip shows
        def read(self, index, frames):
            x = super().read(index, frames)
            x[:, :, : self.size // 2] = 0
            return x

    src = Gradient([40] * 6, size=16, num_classes=2)
    for preset, prob in (("paper", 0.0), ("cpu", 0.5), ("cpu-real", 0.5)):
        ft = finetune_settings(
            load_config(preset, {"finetune.crop_size": 16, "finetune.short_side": 16, "finetune.clip_frames": 4})
        )
        assert ft.flip_prob == prob
        ds = train_clips(ft, src, seed=0)
        flipped = 0
        for epoch in range(4):
            ds.set_epoch(epoch)
            flipped += sum(int(ds[i]["clip"][:, :, :, 0].max() > 0) for i in range(len(ds)))
        assert (flipped > 0) == (prob > 0)
        assert ("flip" in finetune_card(ft)["train_crop"]) == (prob > 0)
