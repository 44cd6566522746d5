"""Run folders: the resolved configuration, versions and seed of a run, and its checkpoints.

A run folder holds ``config.yaml`` (the resolved configuration), ``run.json`` (versions, seed,
command, status), ``checkpoints/`` and the CSV logs. A finished run is never overwritten without
``force``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import yaml


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def versions() -> dict:
    import lightning
    import numpy
    import torch
    import torchvision

    from . import __version__

    return {
        "skipclip": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
    }


def read_run(out: Path) -> dict | None:
    path = Path(out) / "run.json"
    return json.loads(path.read_text()) if path.exists() else None


def prepare_run_dir(out: Path, cfg, *, resume: bool, force: bool, kind: str) -> Path:
    """Create (or reopen, when resuming) a run folder and record the run's configuration.

    Raises:
        FileExistsError: ``out`` holds a run and neither ``resume`` nor ``force`` was given.
    """
    out = Path(out)
    info = read_run(out)
    if info is not None and not (resume or force):
        state = "finished" if info.get("status") == "finished" else "unfinished"
        raise FileExistsError(
            f"{out} already holds a {state} {info.get('kind', '')} run; pass --resume to continue it, "
            "--force to overwrite it, or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    record = {
        "kind": kind,
        "status": "running",
        "seed": cfg.trainer.seed,
        "command": " ".join(sys.argv),
        "versions": versions(),
    }
    if info and resume:
        record["resumed_from_status"] = info.get("status")
    atomic_write_text(out / "run.json", json.dumps(record, indent=2))
    return out


def finish_run(out: Path, **extra) -> None:
    info = read_run(out) or {}
    info.update(status="finished", **extra)
    atomic_write_text(Path(out) / "run.json", json.dumps(info, indent=2, default=str))
