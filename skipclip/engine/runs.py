"""Run folders: the resolved configuration, versions and seed of a run, and its checkpoints.

A run folder holds ``config.yaml`` (the resolved configuration), ``run.json`` (versions, seed,
command, status), ``checkpoints/`` and the CSV logs. A finished run is never overwritten without
``force``.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import yaml


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    from .checkpoints import atomic_write

    atomic_write(path, lambda fh: fh.write(text.encode()))


def versions() -> dict:
    import lightning
    import numpy
    import torch
    import torchvision

    from .. import __version__

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


# keys a resumed run may change: they do not alter what the continuation computes
RESUMABLE_CHANGES = {"optim.max_epochs", "trainer.time_budget_min", "data.num_workers", "trainer.log_every_n_steps",
                     "trainer.on_nonfinite", "trainer.accelerator", "trainer.limit_train_batches",
                     "trainer.devices", "trainer.num_nodes"}  # a new world size warns: not bit-exact


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(saved: dict, cfg) -> dict:
    """``{key: (saved, now)}`` for every setting that differs from the saved configuration; a key
    the saved configuration lacks (written before the key existed) counts as its default."""
    from ..config.sections import Config

    a, b = {**_flat(Config().to_dict()), **_flat(saved)}, _flat(cfg.to_dict())
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def prepare_run_dir(out: Path, cfg, *, resume: bool, force: bool, kind: str) -> Path:
    """Create (or reopen, when resuming) a run folder and record the run's configuration.

    Only the launch's rank 0 touches the folder (the other processes of a distributed run get the
    path back). ``force`` deletes the old run's checkpoints and logs.

    Raises:
        ValueError: ``resume`` and ``force`` together, or a resume whose configuration differs
            from the saved one in a key that would change the result.
        FileExistsError: ``out`` holds a run and neither ``resume`` nor ``force`` was given.
    """
    from ..utils.dist import launch_rank

    out = Path(out)
    if resume and force:
        raise ValueError("--resume and --force contradict each other: --resume continues the run in "
                         f"{out}, --force deletes it; pass one of them")
    if launch_rank() != 0:
        return out
    info = read_run(out)
    if info is not None and not (resume or force):
        state = "finished" if info.get("status") == "finished" else "unfinished"
        raise FileExistsError(
            f"{out} already holds a {state} {info.get('kind', '')} run; pass --resume to continue it, "
            "--force to overwrite it, or choose another --out"
        )
    if resume and (out / "config.yaml").exists():
        saved = yaml.safe_load((out / "config.yaml").read_text()) or {}
        bad = {k: v for k, v in config_changes(saved, cfg).items() if k not in RESUMABLE_CHANGES}
        if bad:
            listing = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in bad.items())
            raise ValueError(f"cannot resume {out} with a different configuration ({listing}); only "
                             f"{', '.join(sorted(RESUMABLE_CHANGES))} may change. Resume with the saved "
                             "values, or start a new run in another --out")
    if force and info is not None:
        import shutil

        for sub in ("checkpoints", "logs"):
            shutil.rmtree(out / sub, ignore_errors=True)
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
        record["resumes"] = info.get("resumes", 0) + 1
    atomic_write_text(out / "run.json", json.dumps(record, indent=2))
    return out


def finish_run(out: Path, **extra) -> None:
    info = read_run(out) or {}
    info.update(status="finished", **extra)
    atomic_write_text(Path(out) / "run.json", json.dumps(info, indent=2, default=str))
