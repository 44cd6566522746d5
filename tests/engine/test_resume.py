"""Exact resume: a run SIGKILLed mid-epoch and resumed ends with the same weights, optimiser
state and sampler position as an uninterrupted one; run folders refuse to be overwritten."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import torch

from skipclip.cli import main
from skipclip.config import load_config
from skipclip.engine.runs import finish_run, prepare_run_dir

from helpers import child_env, cli, max_weight_diff, torch_threads, weights


def _opt_state(ckpt):
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["optimizer_states"][0]["state"]
    return {f"{i}.{k}": v for i, s in state.items() for k, v in s.items() if torch.is_tensor(v)}


@pytest.mark.e2e
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path, tiny_pretrained_run, capsys):
    ref = tiny_pretrained_run / "checkpoints" / "last.ckpt"  # the same run uninterrupted, one thread
    config = tiny_pretrained_run / "config.yaml"  # 64 videos, batch 4: 16 steps an epoch, 3 epochs
    common = ["pretrain", "--data", "synthetic", "--config", str(config), "--no-progress", "--checkpoint-every", "5"]

    run = tmp_path / "cut"
    last = run / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        cli(*common, "--out", run), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 180
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)  # a real kill: no handler, no clean-up
    assert proc.wait() == -signal.SIGKILL
    cut = torch.load(last, map_location="cpu", weights_only=False)
    position = cut["callbacks"]["TrainingPosition"]
    assert 0 < cut["global_step"] < 48
    assert not position["epoch_done"] and 0 < position["batches_done"] < 16  # killed mid-epoch
    assert json.loads((run / "run.json").read_text())["status"] == "running"

    # a plain re-run refuses to overwrite the killed run
    assert main([*common, "--out", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err

    with torch_threads(1):  # as the killed child and the reference ran
        assert main([*common, "--out", str(run), "--resume"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["summary"]["steps"] == 48
    assert info["summary"]["resumed_from"].endswith("last.ckpt")

    assert max_weight_diff(weights(ref), weights(last)) == 0.0  # bit-exact (deterministic mode, same thread count)
    assert max_weight_diff(_opt_state(ref), _opt_state(last)) == 0.0
    # the last k=3 epoch checkpoints, plus last.ckpt, and no stale temporaries
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["epoch0000.ckpt", "epoch0001.ckpt", "epoch0002.ckpt", "last.ckpt"]


def _cfg():
    return load_config("cpu")


def test_finished_run_is_not_overwritten_without_force(tmp_path):
    out = prepare_run_dir(tmp_path / "run", _cfg(), resume=False, force=False, kind="pretrain")
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "last.ckpt").write_bytes(b"old")
    finish_run(out, summary={"steps": 1})
    with pytest.raises(FileExistsError, match="finished pretrain run; pass --resume"):
        prepare_run_dir(out, _cfg(), resume=False, force=False, kind="pretrain")
    assert (out / "checkpoints" / "last.ckpt").read_bytes() == b"old"
    new = prepare_run_dir(out, _cfg(), resume=False, force=True, kind="pretrain")
    assert new != out and new.parent == out.parent  # --force starts over beside the old run
    assert (out / "checkpoints" / "last.ckpt").read_bytes() == b"old"  # kept until the new one has a checkpoint
    assert not (new / "checkpoints").exists()
    info = json.loads((new / "run.json").read_text())
    assert info["status"] == "running" and info["seed"] == 0 and "torch" in info["versions"]
    assert (new / "config.yaml").read_text().startswith("model:")
    finish_run(new, status="failed", error="stopped")  # before any checkpoint: the old run stays
    assert not new.exists() and (out / "checkpoints" / "last.ckpt").read_bytes() == b"old"
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_resume_and_force_together_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="--resume and --force"):
        prepare_run_dir(tmp_path, _cfg(), resume=True, force=True, kind="pretrain")


def test_resume_with_a_different_config_names_the_change(tmp_path):
    out = prepare_run_dir(tmp_path / "run", _cfg(), resume=False, force=False, kind="pretrain")
    changed = load_config("cpu", {"pretext.sampling_rate": 3, "optim.max_epochs": 60})
    with pytest.raises(ValueError, match=r"pretext.sampling_rate: 2 -> 3"):
        prepare_run_dir(out, changed, resume=True, force=False, kind="pretrain")
    longer = load_config("cpu", {"optim.max_epochs": 60})  # training longer is allowed
    prepare_run_dir(out, longer, resume=True, force=False, kind="pretrain")
    assert json.loads((out / "run.json").read_text())["resumes"] == 1


def test_only_launch_rank_zero_writes_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    out = prepare_run_dir(tmp_path / "run", _cfg(), resume=False, force=False, kind="pretrain")
    assert not out.exists()


@pytest.mark.e2e
def test_resume_from_a_checkpoint_of_an_epochs_last_batch_trains_every_epoch(tmp_path, tiny_pretrained_run):
    """A step checkpoint written after an epoch's last batch (before its end): Lightning starts the
    next epoch without on_train_epoch_start, and the run must still train all its epochs, exactly."""
    import lightning as L

    from skipclip.recipes.pretrain import pretrain

    class Stop(Exception):
        pass

    class StopAtValidation(L.Callback):
        """Since the step checkpoint is no longer written at a step a validation follows
        (engine/checkpoints.py: StepCheckpoint), the checkpoint at batch 16/16 is the epoch
        callback's, written after the validation: stop as the next epoch starts."""

        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch == 1:
                raise Stop

    cfg = load_config(str(tiny_pretrained_run / "config.yaml"))
    run = tmp_path / "cut"
    with torch_threads(1), pytest.raises(Stop):
        pretrain(cfg, "synthetic", run, progress=False, callbacks=[StopAtValidation()], checkpoint_every=16)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 16
    with torch_threads(1):
        _, _, summary = pretrain(cfg, "synthetic", run, progress=False, resume=True, checkpoint_every=16)
    assert summary.steps == 48  # not 32: the epoch after the interrupted one is trained too
    ref, cut = weights(tiny_pretrained_run / "checkpoints" / "last.ckpt"), weights(run / "checkpoints" / "last.ckpt")
    assert max_weight_diff(ref, cut) == 0.0
