"""Helpers of the run-record tests: a `skipclip pretrain` child process killed with SIGKILL at a
chosen moment, a slow checkpoint writer (so a kill can land inside a save), and readers of a run
folder's record (metrics.csv rows, a fingerprint of every file)."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

from helpers import child_env, cli

LOGGERS = "csv,tensorboard" if find_spec("tensorboard") is not None else "csv"

# imported by the child through PYTHONPATH: every atomic checkpoint write announces itself with
# a marker file, then stalls after writing part of the file, so the parent can SIGKILL it mid-save
SLOW_SAVE = """
import os, time
import skipclip.utils.io as io
_real = io.atomic_write
def atomic_write(path, write):
    if str(path).endswith(".ckpt") and os.environ.get("SKIPCLIP_TEST_SLOW_SAVE"):
        def slow(fh):
            write(fh)
            fh.flush()
            with open(os.environ["SKIPCLIP_TEST_SLOW_SAVE"], "a") as marker:
                marker.write(os.path.basename(str(path)) + " ")
            time.sleep(float(os.environ.get("SKIPCLIP_TEST_SAVE_PAUSE", "3")))
        return _real(path, slow)
    return _real(path, write)
io.atomic_write = atomic_write
"""


def slow_save_env(tmp_path: Path, marker: Path) -> dict:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SLOW_SAVE)
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(hook), env.get("PYTHONPATH", "")])
    env["SKIPCLIP_TEST_SLOW_SAVE"] = str(marker)
    return env


def pretrain_args(config: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return cli(
        "pretrain",
        "--data",
        "synthetic",
        "--config",
        config,
        "--out",
        out,
        "--max-steps",
        steps,
        "--checkpoint-every",
        5,
        "--log-images-every",
        0,
        "--no-progress",
        "--logger",
        LOGGERS,
        *extra,
    )


def tensorboard_steps(run: Path, tag: str = "train/loss") -> list[int]:
    """The steps TensorBoard shows for ``tag`` over every event file of the run (what an earlier
    attempt logged past a resume is purged, as TensorBoard itself reads it)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run / "logs" / "tensorboard"), size_guidance={"scalars": 0})
    ea.Reload()
    return [e.step for e in ea.Scalars(tag)]


def run_killed(args: list[str], when, env: dict | None = None, timeout: float = 300) -> int:
    """Start ``args``, SIGKILL it as soon as ``when()`` is true; returns its exit status."""
    proc = subprocess.Popen(args, env=env or child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = time.time()
    try:
        while proc.poll() is None and time.time() - start < timeout:
            if when():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def checkpoint_writes(folder: Path):
    """A function telling how many times ``folder/last.ckpt`` was (re)written since the first call."""
    seen: list = []

    def count() -> int:
        path = folder / "last.ckpt"
        try:
            st = path.stat()
        except FileNotFoundError:
            return len(seen)
        key = (st.st_ino, st.st_mtime_ns)
        if key not in seen:
            seen.append(key)
        return len(seen)

    return count


def metric_rows(run: Path) -> list[dict]:
    with open(run / "logs" / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def train_losses(run: Path) -> dict[int, str]:
    """``{step: train/loss}``, asserting each step is logged once and in order."""
    rows = [r for r in metric_rows(run) if r.get("train/loss")]
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(set(steps)), f"steps repeated or out of order: {steps}"
    return {int(r["step"]): r["train/loss"] for r in rows}


def fingerprint(folder: Path) -> dict[str, tuple]:
    """Every file under ``folder`` (links as links): its bytes' hash and its mtime."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(folder))] = ("link", os.readlink(path))
        elif path.is_file():
            st = path.stat()
            out[str(path.relative_to(folder))] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out
