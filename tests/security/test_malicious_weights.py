"""Issue 11 case 1: a weight file is data, never code. A checkpoint holding a pickled object whose
reduce runs a command is refused by every command that reads weights, and the command never runs."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from skipclip.cli import main
from skipclip.engine.checkpoint_io import AtomicCheckpointIO
from skipclip.weights.read import UnsafeCheckpointError, read_checkpoint

from helpers import tiny_cfg, tiny_config


class Evil:
    """Unpickling it would create the marker file (as ``os.system("touch ...")`` would)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    state = {
        "model.context_encoder.stem.weight": torch.zeros(1),
        "conv1.weight": torch.zeros(8, 3, 7, 7),
        "layer1.0.conv1.weight": torch.zeros(8, 8, 3, 3),
    }
    torch.save({"state_dict": state, "payload": Evil(marker)}, path)
    return path, marker


def test_read_checkpoint_refuses_pickled_code_and_says_how_to_convert(evil):
    path, marker = evil
    with pytest.raises(UnsafeCheckpointError, match="pickled Python objects") as info:
        read_checkpoint(path)
    assert str(path) in str(info.value) and "weights_only=False" in str(info.value)  # how to convert a trusted file
    assert not marker.exists()


def test_lightning_checkpoint_io_loads_with_weights_only(evil):
    path, marker = evil
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        AtomicCheckpointIO().load_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError):
        AtomicCheckpointIO().load_checkpoint(path, weights_only=False)
    assert not marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["finetune", "--data", "synthetic", "--init", "{ckpt}"],
        ["finetune", "--data", "synthetic", "--inflate", "{ckpt}"],
        ["evaluate", "--data", "synthetic", "--ckpt", "{ckpt}", "--json", "{out}/report.json"],
        ["visualize", "--ckpt", "{ckpt}", "--video", "synthetic:0", "--out", "{out}/map.png"],
    ],
)
def test_every_command_refuses_the_file_and_runs_nothing(evil, tmp_path, capsys, command):
    path, marker = evil
    args = [a.format(ckpt=path, out=tmp_path / "out") for a in command]
    if args[0] in ("finetune", "evaluate"):
        args += ["--config", str(tiny_config(tmp_path / "tiny.yaml"))]
    if args[0] == "finetune":
        args += ["--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "pickled Python objects" in err and str(path) in err
    assert not marker.exists()
    assert not (tmp_path / "out").exists()  # nothing written


def _resume_into(tmp_path, last_ckpt_content):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    torch.save(last_ckpt_content, out / "checkpoints" / "last.ckpt")
    return main(
        [
            "pretrain",
            "--data",
            "synthetic",
            "--out",
            str(out),
            "--resume",
            "--no-progress",
            "--config",
            str(tiny_config(tmp_path / "tiny.yaml")),
        ]
    )


def test_resume_from_a_crafted_last_ckpt_is_a_clear_error(tmp_path, capsys):
    marker = tmp_path / "pwned"
    assert _resume_into(tmp_path, {"state_dict": {}, "loops": {}, "optimizer_states": [], "x": Evil(marker)}) == 2
    err = capsys.readouterr().err
    assert "last.ckpt" in err and "pickled Python objects" in err and "Traceback" not in err
    assert not marker.exists()
    assert not (tmp_path / "run" / "run.json").exists()  # nothing written for a run that could not start


def test_resume_from_a_foreign_tensor_file_is_a_clear_error(tmp_path, capsys):
    assert _resume_into(tmp_path, {"w": torch.zeros(2)}) == 2
    assert "not a training checkpoint" in capsys.readouterr().err


def test_own_checkpoints_still_load(tmp_path):
    from skipclip.method.build import build_skipclip
    from skipclip.weights.initialise import initial_encoder

    cfg = tiny_cfg()
    model = build_skipclip(cfg)
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {"config": cfg.to_dict()},
        },
        tmp_path / "ok.ckpt",
    )
    g, info = initial_encoder(cfg, str(tmp_path / "ok.ckpt"))
    assert info["init"] == "skipclip"
    theirs = model.context_encoder.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in g.state_dict().items())


def test_a_pretraining_runs_own_checkpoint_reads_as_data(tiny_pretrained_run):
    """All a pretraining run writes besides the weights (optimiser, loops, callback states) is
    tensors and plain containers: it reads with tensors only."""
    ckpt = read_checkpoint(tiny_pretrained_run / "checkpoints" / "last.ckpt")
    assert {"state_dict", "optimizer_states", "loops", "callbacks"} <= set(ckpt) and ckpt["global_step"] == 48
    assert any(k.startswith("model.context_encoder.") for k in ckpt["state_dict"])
