"""Resumable fine-tuning: a fine-tune SIGKILLed mid-run and resumed with --resume selects the
same epoch and reaches the same test accuracy, with the same weights, as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import torch

from helpers import child_env, cli, max_weight_diff, run_cli, tiny_config, weights


@pytest.mark.e2e
def test_sigkilled_finetune_resumes_to_the_uninterrupted_result(tmp_path):
    # 64 synthetic videos, batch 4: 8 steps an epoch, 4 epochs, validation every epoch
    config = tiny_config(tmp_path / "tiny.yaml", finetune={"max_epochs": 4, "batch_size": 4, "val_every": 1,
                                                           "lr_step_epochs": 2, "lr_last_step_epoch": 4})
    common = ["finetune", "--data", "synthetic", "--config", config, "--no-progress"]
    ref = run_cli(*common, "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr[-3000:]

    run = tmp_path / "cut"
    ckpts = run / "checkpoints"
    proc = subprocess.Popen(cli(*common, "--out", run), env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (ckpts / "epoch0002.ckpt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)  # a real kill, after three validated epochs: no handler, no clean-up
    assert proc.wait() == -signal.SIGKILL
    cut = torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=True)
    assert cut["global_step"] in (16, 24)  # end of epoch 1 or 2 (killed between epoch0002.ckpt and last.ckpt)
    assert len(cut["callbacks"]["KeepBest"]["history"]) >= 2  # the validations before the kill travel along
    assert not (run / "report.json").exists()
    assert json.loads((run / "run.json").read_text())["status"] == "running"

    again = run_cli(*common, "--out", run)  # a plain re-run refuses to overwrite the killed run
    assert again.returncode == 2 and "--resume" in again.stderr
    other = run_cli(*common, "--out", run, "--resume", "--linear")  # another starting point is refused
    assert other.returncode == 2 and "cannot resume" in other.stderr

    resumed = run_cli(*common, "--out", run, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (json.loads((d / "report.json").read_text()) for d in (tmp_path / "ref", run))
    assert b["history"]["resumed_from"].endswith("last.ckpt")
    assert b["history"]["best_epoch"] == a["history"]["best_epoch"]
    assert b["history"]["val_curve"] == a["history"]["val_curve"]  # all four epochs, before and after the kill
    for key in ("top1", "top5", "clip_top1", "val_top1"):
        assert b["results"][0][key] == a["results"][0][key], key
    best_a, best_b = weights(tmp_path / "ref" / "checkpoints" / "best.ckpt"), weights(ckpts / "best.ckpt")
    assert max_weight_diff(best_a, best_b) == 0.0  # bit-exact (deterministic mode, one thread)
    assert json.loads((run / "run.json").read_text())["status"] == "finished"

    forced = run_cli(*common, "--out", run, "--force", "--max-epochs", "1")  # --force starts over
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert json.loads((run / "report.json").read_text())["history"]["epochs"] == 1
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt", "epoch0000.ckpt", "last.ckpt"]
