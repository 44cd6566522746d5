"""A run loses nothing to a SIGKILL (issue 25): killed at several moments (before its first
checkpoint, between checkpoints, inside a checkpoint write) and resumed, a pretraining ends with
the uninterrupted run's record: one ``metrics.csv`` with every step once, in order, and the same
values; and ``--force`` over a finished run, killed at any moment, leaves the old run or the new
one, never neither. Each kill is a real SIGKILL of a `skipclip pretrain` child process."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from run_children import (
    LOGGERS,
    checkpoint_writes,
    fingerprint,
    pretrain_args,
    run_killed,
    slow_save_env,
    tensorboard_steps,
    train_losses,
)

from helpers import child_env, run_cli, tiny_config

pytestmark = pytest.mark.e2e

STEPS = 20  # checkpoints at steps 5, 10, 15, 20; 16 steps an epoch, so the run crosses an epoch end


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 20-step run (same seed) and the tiny config."""
    root = tmp_path_factory.mktemp("kills")
    config = tiny_config(root / "tiny.yaml")
    run = root / "ref"
    done = run_cli(*pretrain_args(config, run, STEPS)[3:], timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return config, run


def _state(run):
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def _resume_and_compare(run, config, reference_run):
    done = run_cli(
        "pretrain",
        "--data",
        "synthetic",
        "--out",
        run,
        "--max-steps",
        STEPS,
        "--checkpoint-every",
        5,
        "--log-images-every",
        0,
        "--no-progress",
        "--logger",
        LOGGERS,
        "--resume",
        timeout=600,
    )  # its own config.yaml
    assert done.returncode == 0, done.stderr[-2000:]
    assert train_losses(run) == train_losses(reference_run)  # every step once, in order, same values
    if LOGGERS != "csv":  # TensorBoard continued: every step once, what the killed attempt logged past it purged
        assert tensorboard_steps(run) == sorted(train_losses(reference_run))
    a, b = _state(run)["state_dict"], _state(reference_run)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["summary"]["steps"] == STEPS
    assert len(info["attempts"]) == 1 and info["attempts"][0]["steps"][0] == 0
    assert info["summary"]["wall_s"] > info["wall_s_before"] >= 0
    assert info["first_step"] == 0 or info["wall_s_before"] > 0  # the killed attempt's time is counted
    assert (run / "figures" / "pretraining_curves.png").is_file()


@pytest.mark.parametrize("moment", ["before the first checkpoint", "between checkpoints", "during a save"])
def test_a_killed_run_resumes_to_the_uninterrupted_record(tmp_path, reference, moment):
    config, ref = reference
    run = tmp_path / "run"
    env = child_env()
    if moment == "before the first checkpoint":
        when = lambda: (run / "run.json").is_file()  # noqa: E731 - started, no checkpoint yet
    elif moment == "between checkpoints":
        writes = checkpoint_writes(run / "checkpoints")
        when = lambda: writes() >= 2  # noqa: E731 - the step-10 checkpoint is written
    else:
        marker = tmp_path / "saving"
        env = slow_save_env(tmp_path, marker)

        def when():  # the second write of last.ckpt has begun and stalls half way
            return marker.exists() and marker.read_text().split().count("last.ckpt") >= 2

    code = run_killed(pretrain_args(config, run, STEPS), when, env=env)
    assert code == -9
    status = json.loads((run / "run.json").read_text())["status"]
    assert status == "running"
    if moment == "during a save":
        assert any(p.name.endswith(".tmp") for p in (run / "checkpoints").iterdir())  # killed mid-write
    if moment == "before the first checkpoint":
        assert not (run / "checkpoints" / "last.ckpt").exists()
    _resume_and_compare(run, config, ref)


def _old_or_new(out, old_print, old_ckpt):
    """``out`` holds the old run, untouched, or a new run with a checkpoint: never neither."""
    assert out.is_dir()
    now = fingerprint(out)
    if now.get("checkpoints/last.ckpt") == old_print["checkpoints/last.ckpt"]:
        assert {k: v for k, v in now.items() if k != ".lock"} == {k: v for k, v in old_print.items() if k != ".lock"}
        return "old"
    state = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] >= 1 and not torch.equal(
        state["state_dict"][next(iter(state["state_dict"]))], old_ckpt["state_dict"][next(iter(old_ckpt["state_dict"]))]
    )
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    return "new"


@pytest.mark.parametrize(
    "moment", ["before the first checkpoint", "during the first save", "after the first checkpoint"]
)
def test_force_then_a_kill_leaves_the_old_run_or_the_new_one(tmp_path, reference, moment):
    config, ref = reference
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    old_print, old_ckpt = fingerprint(out), _state(out)
    args = pretrain_args(config, out, STEPS, "--force", "--seed", "3")
    env = child_env()
    news = lambda: list(tmp_path.glob(".run.new-*"))  # noqa: E731
    if moment == "before the first checkpoint":
        when = lambda: any((n / "run.json").is_file() for n in news())  # noqa: E731
    elif moment == "during the first save":
        marker = tmp_path / "saving"
        env = slow_save_env(tmp_path, marker)
        # the first checkpoint file being written: last.ckpt itself, or the epoch checkpoint that
        # last.ckpt is then linked to (the new run has no checkpoint until that write ends)
        when = lambda: marker.exists() and bool(marker.read_text().split())  # noqa: E731
    else:

        def when():  # the new run's first checkpoint is in place
            try:
                return (out / "checkpoints" / "last.ckpt").stat().st_mtime_ns != old_print["checkpoints/last.ckpt"][1]
            except FileNotFoundError:  # between the swap's two renames
                return False

    assert run_killed(args, when, env=env) == -9
    found = _old_or_new(out, old_print, old_ckpt)
    assert found == ("new" if moment == "after the first checkpoint" else "old")
    # the next command on the folder finds one run and clears what the kill left beside it
    done = run_cli(*args[3:], timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(tmp_path.glob(".run.new-*")) and not list(tmp_path.glob(".run.old-*"))
    assert json.loads((out / "run.json").read_text())["seed"] == 3
