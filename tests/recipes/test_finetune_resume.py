"""Resumable fine-tuning: a fine-tune SIGKILLed mid-run and resumed with --resume selects the
same epoch and reaches the same test accuracy, with the same weights, as an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time

import pytest
import torch

from skipclip.cli import main

from helpers import child_env, cli, max_weight_diff, tiny_config, torch_threads, weights


@pytest.mark.e2e
def test_sigkilled_finetune_resumes_to_the_uninterrupted_result(tmp_path, capsys):
    # 64 synthetic videos, batch 4: 8 steps an epoch, 4 epochs, validation every epoch
    config = tiny_config(
        tmp_path / "tiny.yaml",
        finetune={"max_epochs": 4, "batch_size": 4, "val_every": 1, "lr_step_epochs": 2, "lr_last_step_epoch": 4},
    )
    common = ["finetune", "--data", "synthetic", "--ckpt", "random", "--config", str(config), "--no-progress"]
    # only the killed run needs a child process; the rest runs here, with the child's one thread
    with torch_threads(1):
        assert main([*common, "--out", str(tmp_path / "ref")]) == 0

    run = tmp_path / "cut"
    ckpts = run / "checkpoints"
    proc = subprocess.Popen(
        cli(*common, "--out", run), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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

    capsys.readouterr()
    assert main([*common, "--out", str(run)]) == 2  # a plain re-run refuses to overwrite the killed run
    assert "--resume" in capsys.readouterr().err
    assert main([*common, "--out", str(run), "--resume", "--linear"]) == 2  # another starting point is refused
    assert "cannot resume" in capsys.readouterr().err

    with torch_threads(1):
        assert main([*common, "--out", str(run), "--resume"]) == 0
    a, b = (json.loads((d / "report.json").read_text()) for d in (tmp_path / "ref", run))
    assert b["history"]["resumed_from"].endswith("last.ckpt")
    assert b["history"]["best_epoch"] == a["history"]["best_epoch"]
    assert b["history"]["val_curve"] == a["history"]["val_curve"]  # all four epochs, before and after the kill
    for key in ("top1", "top5", "clip_top1", "val_top1"):
        assert b["results"][0][key] == a["results"][0][key], key
    best_a, best_b = weights(tmp_path / "ref" / "checkpoints" / "best.ckpt"), weights(ckpts / "best.ckpt")
    assert max_weight_diff(best_a, best_b) == 0.0  # bit-exact (deterministic mode, one thread)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["resumes"] == 1 and len(info["attempts"]) == 1
    # the record continues: metrics.csv holds every step once (the rows past the checkpoint dropped)
    assert _rows(run) == _rows(tmp_path / "ref")

    before = _files(run)  # a finished run's --resume asks for nothing: exit 0, nothing changes
    capsys.readouterr()
    assert main([*common, "--out", str(run), "--resume"]) == 0
    assert "finished finetune run" in capsys.readouterr().out and _files(run) == before

    assert main([*common, "--out", str(run), "--force", "--max-epochs", "1"]) == 0  # --force starts over
    assert json.loads((run / "report.json").read_text())["history"]["epochs"] == 1
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt", "epoch0000.ckpt", "last.ckpt"]


def _rows(run) -> list[dict]:
    with open(run / "logs" / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _files(run) -> dict:
    return {
        str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }
