"""The `paper` preset against the paper's numbers (sections 4.1, 4.2 and Appendix B), and the
learning-rate schedules it produces, epoch by epoch, for pretraining and fine-tuning."""

from __future__ import annotations

import pytest
import torch

from skipclip.config import load_config

# The paper's hyper-parameters, quoted next to each value.
PAPER_PRETRAINING = {
    "pretext.context_frames": 16,  # "we sample K = 16 contiguous frames"
    "pretext.num_targets": 8,  # "Ranking is performed on M = 8 target clips"
    "pretext.sampling_rate": 4,  # "The target sampling rate was set to r = 4"
    "pretext.target_length": 1,  # "the special case where d = 1"
    "pretext.rotation": True,  # Table 2's last row: + rotation + negative sampling
    "pretext.negatives": True,
    "model.context_arch": "r3d18_hara",  # "a 3D ResNet-18 [4]" (Hara et al.)
    "model.width": 64,  # "C = 512" channels in the last stage
    "model.shortcut": "A",  # Hara et al.'s ResNet-18 shortcut
    "model.last_stride": 2,  # ResNet-18's stride in the last stage: "7 x 7" cells at 224 px
    "data.crop_size": 224,  # "The input frames are resized to 224x224 pixels"
    "data.batch_size": 128,  # "a batch size of 128"
    "data.batch_per": "global",  # ... over all GPUs together
    "data.val_fraction": 0.0,  # split 1's whole training list
    "optim.lr": 3e-4,  # "a learning rate of 3e-4"
    "optim.lr_gamma": 0.1,  # "multiplied by 0.1"
    "optim.lr_step_epochs": 200,  # "every 200 epochs"
    "optim.weight_decay": 1e-7,  # "weight decay of 1e-7"
    "optim.max_epochs": 600,  # "We trained for 600 epochs"
    # the options of issue 18, point 4, at the paper's choice
    "model.init_context_from_frame": False,  # "Both encoders are trained from scratch"
    "pretext.contrastive": "hinge",  # Eq. 2, a hinge over the mean of the negatives
}
PAPER_FINETUNING = {
    "finetune.clip_frames": 16,  # "an input of 16 frames"
    "finetune.crop_size": 112,  # "112x112 after applying random cropping"
    "finetune.max_epochs": 300,  # "We fine tune for 300 epochs"
    "finetune.weight_decay": 1e-2,  # "weight decay of 1e-2"
    "finetune.lr": 5e-4,  # "learning rate of 5e-4"
    "finetune.lr_gamma": 0.5,  # "multiplied by 0.5"
    "finetune.lr_step_epochs": 15,  # "every 15 epochs"
    "finetune.lr_last_step_epoch": 60,  # "up to the 60th epoch"
    "finetune.val_fraction": 0.0,  # the paper's reading: the whole training list ...
    "finetune.selection": "last",  # ... and the last epoch reported
    "finetune.flip_prob": 0.0,  # "after applying random cropping": no flip named for fine-tuning
}


@pytest.mark.parametrize("key,value", sorted({**PAPER_PRETRAINING, **PAPER_FINETUNING}.items()))
def test_paper_preset_holds_the_papers_value(key, value):
    cfg = load_config("paper")
    section, name = key.split(".")
    assert getattr(getattr(cfg, section), name) == value


def test_paper_shapes_give_the_papers_encodings():
    """C x H x W = 512 x 7 x 7 at 224 px (section 4.1), for f (g's shape is tested in tests/models)."""
    from skipclip.models import FrameEncoder

    cfg = load_config("paper")
    f = FrameEncoder(cfg.model.width).eval()
    with torch.no_grad():
        z = f(torch.zeros(1, 3, cfg.data.crop_size, cfg.data.crop_size))
    assert tuple(z.shape) == (1, 512, 7, 7)
    assert cfg.window_length == 16 + 8 * 4 + 1 - 1


def lr_by_epoch(module, epochs: int) -> list[float]:
    """The learning rate of each epoch, stepping the module's scheduler as Lightning does."""
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert conf["lr_scheduler"]["interval"] == "epoch"
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_pretraining_schedule_epoch_by_epoch():
    from skipclip.engine.skipclip_module import SkipClipModule

    cfg = load_config("paper", {"model.width": 8})  # the schedule does not depend on the width
    lrs = lr_by_epoch(SkipClipModule.from_config(cfg), 600)
    want = [3e-4] * 200 + [3e-5] * 200 + [3e-6] * 200  # x0.1 every 200 epochs
    assert lrs == pytest.approx(want, rel=1e-9)
    assert SkipClipModule.from_config(cfg).weight_decay == 1e-7


def test_finetuning_schedule_epoch_by_epoch():
    """x0.5 every 15 epochs up to the 60th: halvings at epochs 15, 30, 45 and 60, then constant
    (the README's reading; lr_last_step_epoch 45 gives three halvings)."""
    from skipclip.eval.finetune import build_classifier
    from skipclip.models import ContextEncoder

    cfg = load_config("paper", {"model.width": 8})
    lrs = lr_by_epoch(build_classifier(cfg, ContextEncoder("r3d18_hara", 8), num_classes=101), 300)
    want = [5e-4] * 15 + [2.5e-4] * 15 + [1.25e-4] * 15 + [6.25e-5] * 15 + [3.125e-5] * 240
    assert lrs == pytest.approx(want, rel=1e-9)
    three = load_config("paper", {"model.width": 8, "finetune.lr_last_step_epoch": 45})
    lrs = lr_by_epoch(build_classifier(three, ContextEncoder("r3d18_hara", 8), num_classes=101), 80)
    assert lrs[44] == pytest.approx(1.25e-4) and lrs[45:] == pytest.approx([6.25e-5] * 35)


def test_bad_values_of_the_new_keys_are_refused():
    cfg = load_config("paper", {"finetune.selection": "best", "finetune.val_fraction": 0.1})
    assert cfg.finetune.selection == "best"
    with pytest.raises(ValueError, match="finetune.val_fraction must be"):
        load_config("paper", {"finetune.val_fraction": 1.0})
    with pytest.raises(ValueError, match="finetune.selection must be"):
        load_config("paper", {"finetune.selection": "worst"})
    with pytest.raises(ValueError, match="data.batch_per must be"):
        load_config("paper", {"data.batch_per": "node"})
    with pytest.raises(ValueError, match="model.shortcut must be"):
        load_config("paper", {"model.shortcut": "C"})


def test_bad_values_of_the_options_are_refused_naming_the_key():
    """The options of issue 18 (point 4 and the fine-tuning flip): each error names its key."""
    cfg = load_config(
        "paper",
        {
            "pretext.contrastive": "infonce",
            "pretext.temperature": 0.07,
            "finetune.flip_prob": 0.5,
            "model.init_context_from_frame": True,
            "model.shortcut": "B",
        },
    )
    assert (cfg.pretext.contrastive, cfg.pretext.temperature) == ("infonce", 0.07)
    assert load_config("paper", {"pretext.rotation": False}).pretext.rotation is False  # the rotation task is optional
    for key, value, match in [
        ("pretext.contrastive", "triplet", "pretext.contrastive must be"),
        ("pretext.temperature", 0.0, "pretext.temperature must be"),
        ("finetune.flip_prob", 1.5, "finetune.flip_prob must be"),
        ("model.init_context_from_frame", "yes", "model.init_context_from_frame must be"),
    ]:
        with pytest.raises(ValueError, match=match):
            load_config("paper", {key: value})
    # inflating f's initial weights into g needs full 3D kernels, 1x1x1 conv shortcuts and d = 1
    for extra, match in [
        ({"model.shortcut": "A"}, "model.shortcut"),
        ({"model.shortcut": "B", "model.context_arch": "r2plus1d_18"}, "model.context_arch"),
        ({"model.shortcut": "B", "pretext.target_length": 2}, "pretext.target_length"),
    ]:
        with pytest.raises(ValueError, match=f"model.init_context_from_frame.*{match}"):
            load_config("paper", {"model.init_context_from_frame": True, **extra})
