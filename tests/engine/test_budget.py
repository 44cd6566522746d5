"""Budgets in optimiser steps: the schedule keeps its shape, validation every N steps selects the
model, and the CLI's --max-steps / --max-epochs / --seeds say what they did."""

import json

import numpy as np
import pytest
import torch

from skipclip.cli import main
from skipclip.config import load_config
from skipclip.config.budget import finetune_budget, make_budget, pretrain_budget
from skipclip.engine.module import TrainModule

from helpers import tiny_config
from video_factory import make_ucf101


def _lrs(module, steps):
    module.layer = torch.nn.Linear(2, 2)
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs, conf["lr_scheduler"]["interval"]


def test_step_budget_keeps_the_schedule_shape():
    # x0.5 every 10 of 30 nominal epochs, over 60 steps: halves at steps 20 and 40, not before
    m = TrainModule(lr=1.0, weight_decay=0.0, lr_step_epochs=10, lr_gamma=0.5, lr_last_step_epoch=30)
    m.schedule_epoch_steps = make_budget(60, 30).schedule_epoch_steps
    lrs, interval = _lrs(m, 60)
    assert interval == "step"
    assert lrs[0] == lrs[19] == 1.0 and lrs[20] == lrs[39] == 0.5 and lrs[40] == lrs[59] == 0.25


def test_epoch_budget_keeps_the_epoch_schedule():
    m = TrainModule(lr=1.0, weight_decay=0.0, lr_step_epochs=1, lr_gamma=0.5)
    lrs, interval = _lrs(m, 3)
    assert interval == "epoch" and lrs == [1.0, 0.5, 0.25]


def test_budget_defaults_and_refusals():
    b = make_budget(95, 30)
    assert b.val_every_steps == 10 and b.trainer_kwargs()["max_epochs"] == -1
    assert b.describe() == "95 steps (validation every 10)"
    e = make_budget(None, 4, val_every_epochs=2, minutes=1.5)
    assert e.trainer_kwargs() == {"max_epochs": 4, "check_val_every_n_epoch": 2, "max_minutes": 1.5}
    assert "at most 1.5 min" in e.describe()
    for bad in (
        {"max_steps": 0, "max_epochs": 3},
        {"max_steps": 5, "max_epochs": 0},
        {"max_steps": 5, "max_epochs": 3, "val_every_steps": 0},
    ):
        with pytest.raises(ValueError):
            make_budget(**bad)
    with pytest.raises(ValueError, match="optim.max_steps"):
        load_config("cpu", {"optim.max_steps": -2})
    with pytest.raises(ValueError, match="time_budget_min"):
        load_config("cpu", {"trainer.time_budget_min": 0})


def test_presets_cpu_counts_epochs_and_cpu_real_counts_steps():
    cpu, real = load_config("cpu"), load_config("cpu-real")
    assert pretrain_budget(cpu).max_steps is None and finetune_budget(cpu).max_steps is None  # the demo's path
    assert pretrain_budget(real).max_steps > 0 and finetune_budget(real).max_steps > 0
    assert finetune_budget(real, epochs=3).max_steps is None  # library callers asking for epochs get them
    # a 2 s clip at 24 fps holds a pretext window and a test window
    assert real.window_length <= 48 and real.pretext.context_frames <= 48


@pytest.mark.e2e
def test_pretrain_counts_steps_and_says_what_stopped_it(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "t.yaml", optim={"max_steps": 5, "val_every_steps": 2, "max_epochs": 3})
    out = tmp_path / "run"
    assert main(["pretrain", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "5 steps in" in text and "stopped by max_steps" in text and "5 steps (validation every 2)" in text
    run = json.loads((out / "run.json").read_text())
    summary = run.get("summary", run)
    assert summary["steps"] == 5 and summary["budget"]["stopped_by"] == "max_steps"
    # --max-epochs alone: the user's epochs replace the preset's steps
    out2 = tmp_path / "run2"
    assert main(["pretrain", "--config", str(cfg), "--out", str(out2), "--no-progress", "--max-epochs", "1"]) == 0
    assert "stopped by max_epochs" in capsys.readouterr().out


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    make_ucf101(root, groups=4, test_groups=2, frames=24)  # 3 classes, 24 videos of 24 frames
    tiny_config(
        root / "tiny.yaml",
        pretext={"context_frames": 8, "num_targets": 4, "sampling_rate": 2},
        data={"short_side": 36, "val_fraction": 0.3},
        finetune={
            "max_steps": 5,
            "val_every_steps": 2,
            "max_epochs": 3,
            "batch_size": 8,
            "lr_step_epochs": 1,
            "lr_last_step_epoch": 2,
        },
    )
    return root


@pytest.mark.e2e
def test_finetune_validates_every_n_steps_and_repeats_seeds(videos, tmp_path, capsys):
    out = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                "--data",
                str(videos),
                "--out",
                str(out),
                "--config",
                str(videos / "tiny.yaml"),
                "--no-progress",
                "--seeds",
                "2",
                "--ckpt",
                "random",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    (row,) = report["results"]
    assert row["seeds"] == 2 and set(row["per_seed"]) == {"7", "8"}
    singles = [r["top1"] for r in report["per_seed"]]
    assert row["top1"] == pytest.approx(np.mean(singles))
    assert row["top1_std"] == pytest.approx(np.std(singles, ddof=1))
    for r, h in zip(report["per_seed"], report["histories"]):
        assert r["steps"] == 5 and r["budget"] == "5 steps (validation every 2)"
        assert [step for _, step, _ in h["val_curve"]] == [2, 4]  # across epoch boundaries
        assert r["best_step"] in (2, 4) and h["budget"]["stopped_by"] == "max_steps"
    text = capsys.readouterr().out
    assert "seed 7:" in text and "seed 8:" in text and "selected epoch" in text


def test_evaluate_random_baseline_over_seeds(videos, tmp_path):
    js = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(videos),
                "--ckpt",
                "random",
                "--config",
                str(videos / "tiny.yaml"),
                "--protocols",
                "linear_probe",
                "--seeds",
                "3",
                "--json",
                str(js),
                "--out",
                str(tmp_path / "ev"),
                "--no-progress",
            ]
        )
        == 0
    )
    ev = json.loads(js.read_text())
    (row,) = ev["results"]
    assert row["init"] == "random" and row["seeds"] == 3 and len(ev["per_seed"]) == 3
    assert row["top1"] == pytest.approx(np.mean([r["top1"] for r in ev["per_seed"]]))
    assert "top1_std" in row
