"""A pretraining configuration small enough that a step takes milliseconds on one CPU core, and
helpers to run `skipclip` in a child process (for SIGKILL and multi-process tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

TINY = {
    "model": {"width": 8},
    "pretext": {"context_frames": 4, "num_targets": 3, "sampling_rate": 1},
    "data": {"crop_size": 32, "short_side": 32, "synthetic_size": 32, "batch_size": 4, "num_workers": 0,
             "synthetic_classes": 8, "synthetic_videos_per_class": 8, "synthetic_frames": 16},
    "optim": {"max_epochs": 3, "lr": 1e-3},
    "trainer": {"accelerator": "cpu", "devices": 1, "deterministic": True, "log_every_n_steps": 1, "seed": 7},
}


def tiny_config(path: Path, **sections) -> Path:
    """Write the tiny preset, with ``section={key: value}`` changes, to ``path``; returns it."""
    data = {k: dict(v) for k, v in TINY.items()}
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    Path(path).write_text(yaml.safe_dump(data))
    return Path(path)


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
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def max_weight_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)
