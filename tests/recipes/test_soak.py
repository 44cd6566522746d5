"""Soak: the tiny CPU configuration through the CLI over video files with corrupt ones mixed in.
The run completes every epoch, and the unreadable videos reach the run's summary."""

from __future__ import annotations

import json

import pytest

from skipclip.data.sources.synthetic import SyntheticSource
from skipclip.data.sources.synthetic_ucf101 import write_synthetic_ucf101

from helpers import run_cli, tiny_config, tiny_overrides


def _plant_corrupt(root):
    train = [line.split()[0] for line in (root / "ucfTrainTestlist" / "trainlist01.txt").read_text().splitlines()]
    videos = root / "UCF-101"
    garbage, truncated, damaged = (videos / train[i] for i in (0, 5, 10))
    garbage.write_bytes(b"\x00garbage, not a video\xff" * 300)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    data = bytearray(damaged.read_bytes())
    data[len(data) // 4 :] = b"\x00" * (len(data) - len(data) // 4)  # header fine, frames zeroed
    damaged.write_bytes(bytes(data))
    return {train[0], train[5], train[10]}


@pytest.mark.e2e
def test_soak_with_corrupt_videos(tmp_path):
    root = tmp_path / "ucf"
    counts = write_synthetic_ucf101(
        SyntheticSource(num_classes=4, videos_per_class=16, frames=16, size=32, seed=3), root, progress=False
    )
    corrupt = _plant_corrupt(root)
    # two epochs show what more would: the corrupt files are caught when indexed, before the first
    # epoch, and the run crosses an epoch boundary
    config = tiny_config(tmp_path / "tiny.yaml", optim={"max_epochs": 2}, trainer={"log_every_n_steps": 10})
    run = run_cli("pretrain", "--data", root, "--config", config, "--out", tmp_path / "run", "--no-progress")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "run.json").read_text())["summary"]
    print(json.dumps({k: v for k, v in summary.items() if k != "metrics"}, indent=1), counts)
    assert summary["epochs"] == 2 and summary["steps"] == 2 * (summary["train_videos"] // 4)  # batch 4, drop_last
    assert {name.removeprefix("UCF-101/") for name in summary["failed_videos"]} == corrupt  # each named
    # the UCF101 split files are honoured: only the training list (less its validation groups) trains
    assert summary["train_videos"] + summary["too_short_videos"] + len(summary["failed_videos"]) <= counts["train"]
    assert summary["train_videos"] >= 30
    assert "skipped: 0 too short, 3 unreadable" in run.stdout


@pytest.mark.e2e
def test_videos_failing_mid_run_are_counted_in_the_summary(tmp_path, monkeypatch):
    """A video that indexed fine but fails when decoded is passed over, and every pass-over
    reaches run.json (the soak's corrupt files are all caught earlier, when indexed)."""
    import torch

    from skipclip.config import load_config
    from skipclip.data.sources.base import InMemorySource, VideoReadError
    from skipclip.recipes.pretrain import pretrain

    read = InMemorySource.read

    def flaky(self, index, frames):
        if index == 3:
            raise VideoReadError(self.name(index), "decoding failed: simulated")
        return read(self, index, frames)

    monkeypatch.setattr(InMemorySource, "read", flaky)
    torch.set_num_threads(1)
    cfg = load_config("cpu", tiny_overrides(optim={"max_epochs": 2}, data={"synthetic_videos_per_class": 2}))
    _, _, summary = pretrain(cfg, "synthetic", tmp_path / "run", progress=False, checkpoint_every=0)
    info = json.loads((tmp_path / "run" / "run.json").read_text())["summary"]
    assert summary.skipped_videos == info["skipped_videos"] == 2  # once per epoch, 16 of 16 drawn
    # video 3 of the training set and video 3 of the validation set (validation failures count too)
    assert len(info["failed_videos"]) == 2 and set(info["failed_videos"].values()) == {"decoding failed: simulated"}
