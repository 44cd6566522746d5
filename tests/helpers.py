"""Shared by every test: the tiny configuration (a step takes milliseconds on one CPU core), a fake
video source, and helpers to run `skipclip` in a child process (SIGKILL and multi-process tests).

Tests import these names with ``from helpers import ...`` (``pythonpath = ["tests"]`` in
pyproject.toml puts this folder on the path); generated video files come from ``video_factory``,
fixtures from ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

TINY = {
    "model": {"width": 8},
    "pretext": {"context_frames": 4, "num_targets": 3, "sampling_rate": 1},
    "data": {
        "crop_size": 32,
        "short_side": 32,
        "synthetic_size": 32,
        "batch_size": 4,
        "num_workers": 0,
        "synthetic_classes": 8,
        "synthetic_videos_per_class": 8,
        "synthetic_frames": 16,
    },
    "optim": {"max_epochs": 3, "lr": 1e-3},
    "trainer": {"accelerator": "cpu", "devices": 1, "deterministic": True, "log_every_n_steps": 1, "seed": 7},
}


def tiny_sections(**sections) -> dict:
    """The tiny configuration as nested sections, with ``section={key: value}`` changes."""
    data = {k: dict(v) for k, v in TINY.items()}
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return data


def tiny_overrides(**sections) -> dict:
    """The tiny configuration as dotted overrides (``{"model.width": 8, ...}``) for ``load_config``."""
    return {f"{s}.{k}": v for s, kv in tiny_sections(**sections).items() for k, v in kv.items()}


def tiny_cfg(**sections):
    """The tiny configuration as a validated :class:`~skipclip.config.Config`."""
    from skipclip.config import load_config

    return load_config("cpu", tiny_overrides(**sections))


def tiny_config(path: Path, **sections) -> Path:
    """Write the tiny configuration, with ``section={key: value}`` changes, to ``path``; returns it."""
    Path(path).write_text(yaml.safe_dump(tiny_sections(**sections)))
    return Path(path)


class FakeSource:
    """An in-memory video source whose every pixel of frame ``t`` holds ``t`` (mod 256), so a clip
    tells which frames it read; reading past a video's end fails the test.

    Args:
        lengths: frames per video.
        size: frame side in pixels.
        num_classes: labels cycle through this many classes; 0 for unlabelled footage (label -1).
    """

    def __init__(self, lengths, size: int = 20, num_classes: int = 0):
        self.lengths = list(lengths)
        self.size = size
        self.classes = [f"c{i}" for i in range(num_classes)]
        self.reads: list[tuple[int, list[int]]] = []

    def __len__(self) -> int:
        return len(self.lengths)

    def num_frames(self, index: int) -> int:
        return self.lengths[index]

    def read(self, index: int, frames):
        import numpy as np

        frames = list(frames)
        self.reads.append((index, frames))
        if min(frames) < 0 or max(frames) >= self.lengths[index]:
            raise AssertionError(f"read past the end: {frames} of {self.lengths[index]}")
        return np.stack([np.full((self.size, self.size, 3), f % 256, np.uint8) for f in frames])

    def label(self, index: int) -> int:
        return index % len(self.classes) if self.classes else -1

    def name(self, index: int) -> str:
        return f"v{index}"

    def group(self, index: int) -> str:
        return f"g{index}"


def child_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID"):
        env.pop(key, None)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "skipclip.cli", *map(str, args)]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), env=child_env(), capture_output=True, text=True, timeout=timeout)


def weights(ckpt: str | Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def max_weight_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch threads (bit-exact comparisons need the same count as the
    run compared with; child processes get one through :func:`child_env`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pretrain_summary(budget=None, **changes):
    """A small finished pretraining's summary (20 steps of 4 videos), with ``changes``."""
    import dataclasses

    from skipclip.config.budget import BudgetUsed
    from skipclip.recipes.pretrain_summary import PretrainSummary

    used = budget or BudgetUsed("20 steps (validation every 2)", 20, 30, None, 20, 1, "max_steps")
    summary = PretrainSummary(
        wall_s=1.0,
        budget=used,
        epochs=1,
        steps=20,
        world_size=1,
        batch_per_process=4,
        global_batch=4,
        resumed_from=None,
        train_videos=16,
        too_short_videos=0,
        failed_videos={},
        skipped_videos=0,
        skipped_nonfinite_batches=0,
        metrics={"train/loss": 0.5},
        last_checkpoint="run/checkpoints/last.ckpt",
    )
    return dataclasses.replace(summary, **changes)
