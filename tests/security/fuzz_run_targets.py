"""Fuzz families of a run folder (issue 25), used by ``fuzz_targets.main``:

- ``resume state``: a trained run's ``last.ckpt`` with one part of its resume state changed (a
  value of the optimiser, scheduler, loop counters or ``TrainingPosition`` replaced by another type,
  a tensor of another shape or dtype, a key dropped or added, a ``KeepBest`` state planted);
  entries ``check_resume_state`` and, for the first states it lets through, a real one-step
  ``pretrain --resume`` (Lightning's restore and the fused Adam step included).
- ``run folder``: ``run.json``, ``config.yaml`` and ``.lock`` as links (to ``/dev/zero``, to a file
  outside the run, to nothing), FIFOs, folders, fields of the wrong type, flipped bytes; entries
  ``read_run``, ``check_run_dir`` (resume and force), ``lock_run_dir``, ``folder_kind``,
  ``prepare_run_dir`` then ``finish_run``.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from pathlib import Path

import torch
from fuzz_targets import evil_values, flip_bytes, kind_of, leaves, pickle_only_values, set_path, short, victim_of

from skipclip.config import load_config
from skipclip.config.budget import pretrain_budget
from skipclip.engine.folder_kind import folder_kind
from skipclip.engine.resume_state import check_resume_state
from skipclip.engine.run_lock import lock_run_dir, release_run_dir
from skipclip.engine.runs import check_run_dir, finish_run, prepare_run_dir, read_run
from skipclip.engine.skipclip_module import SkipClipModule
from skipclip.weights.read import read_checkpoint

RESUMED = {"left": 3}  # real resumes to run (each a short fit) over a fuzzing session


def _resume_parts(obj: dict) -> list[tuple]:
    """Key paths into the resume state (the model weights aside: the checkpoint family has them)."""
    paths = []
    for top in ("optimizer_states", "lr_schedulers"):
        for i, part in enumerate(obj.get(top, [])):
            paths += [(top, i, *p) for p in leaves(part) if not (p[:1] == ("state",) and len(p) > 3)]
    paths += [("loops", *p) for p in leaves(obj["loops"])]
    paths += [("callbacks", "TrainingPosition", *p) for p in leaves(obj["callbacks"]["TrainingPosition"])]
    return paths + [("global_step",), ("epoch",)]


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


def mutate_resume_state(base: dict, rng: random.Random, work: Path) -> str:
    obj = copy.deepcopy(base)
    kind = kind_of(rng, ["value", "tensor", "drop", "extra", "keep-best", "value", "tensor"])
    paths = _resume_parts(obj)
    path = list(rng.choice(paths))
    if kind == "tensor":  # an optimiser state tensor (or any tensor) of another shape or dtype
        tensors = [p for p in paths if isinstance(_get(obj, p), torch.Tensor)]
        path = list(rng.choice(tensors))
        old = _get(obj, path)
        new = rng.choice(
            [
                torch.zeros(rng.choice([0, 1, 3, 7])),
                old.to(rng.choice([torch.float64, torch.int64, torch.float16, torch.bool])),
                torch.zeros(*old.shape, 2),
                old.reshape(-1),
            ]
        )
        set_path(obj, path, new)
        what = f"{'.'.join(map(str, path))} -> {tuple(new.shape)} {new.dtype}"
    elif kind == "drop":
        del _get(obj, path[:-1])[path[-1]]
        what = f"drop {'.'.join(map(str, path))}"
    elif kind == "extra":
        parent = _get(obj, path[:-1]) if isinstance(_get(obj, path[:-1]), dict) else obj
        parent[rng.choice(["evil", 7, "exp_avg", "_step_count"])] = rng.choice(evil_values(rng, work))
        what = f"extra key beside {'.'.join(map(str, path))}"
    elif kind == "keep-best":
        value = {
            "best": rng.choice(evil_values(rng, work)),
            "best_epoch": rng.choice(evil_values(rng, work)),
            "best_state": rng.choice([None, {"w": torch.zeros(2)}, rng.choice(evil_values(rng, work))]),
            "history": rng.choice([[], [[1, 2, 0.5]], [["x"]], rng.choice(evil_values(rng, work))]),
        }
        obj["callbacks"]["KeepBest"] = value
        what = f"KeepBest = {short(value)}"
    else:
        value = rng.choice(evil_values(rng, work) + pickle_only_values())
        set_path(obj, path, value)
        what = f"{'.'.join(map(str, path))} = {short(value)}"
    path_out = work / "run" / "checkpoints" / "last.ckpt"
    torch.save(obj, path_out)
    return what


def fuzz_resume_state(tiny: Path, work: Path, rng: random.Random, cfg) -> tuple[str, dict]:
    run = work / "run"
    shutil.copytree(tiny / "trained", run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    base = torch.load(tiny / "trained" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    what = mutate_resume_state(base, rng, work)
    trained = load_config(run / "config.yaml")
    module = SkipClipModule.from_config(trained)
    module.schedule_epoch_steps = pretrain_budget(trained).schedule_epoch_steps
    path = run / "checkpoints" / "last.ckpt"
    passed = []

    def check():
        check_resume_state(read_checkpoint(path), module, path)
        passed.append(True)

    def resume():  # what a state the check lets through does to a real resume
        if not passed or RESUMED["left"] <= 0:
            return
        RESUMED["left"] -= 1
        from skipclip.recipes.pretrain import pretrain

        longer = load_config(
            run / "config.yaml",
            {"optim.max_epochs": int(trained.optim.max_epochs) + 1, "trainer.limit_train_batches": 2},
        )
        pretrain(longer, "synthetic", run, resume=True, progress=False, checkpoint_every=0, images_every=0)

    return what, {"check_resume_state": check, "pretrain --resume": resume}


def _plant(path: Path, how: str, rng: random.Random, work: Path) -> str:
    victim = victim_of(work) / "sub" / "keep.txt"
    if path.exists() or path.is_symlink():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if how == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif how == "link outside":
        path.symlink_to(victim)
    elif how == "dangling link":
        path.symlink_to(work / "nothing")
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "folder":
        path.mkdir()
    return how


def mutate_run_folder(run: Path, rng: random.Random, work: Path) -> str:
    kind = kind_of(rng, ["run.json", "config.yaml", ".lock", "field", "bytes", "run.json", ".lock", "field"])
    if kind in ("run.json", "config.yaml", ".lock"):
        how = rng.choice(["link to /dev/zero", "link outside", "dangling link", "fifo", "folder"])
        return f"{kind}: {_plant(run / kind, how, rng, work)}"
    if kind == "field":
        info = json.loads((run / "run.json").read_text())
        field = rng.choice(
            ["resumes", "attempts", "status", "kind", "summary", "first_step", "wall_s_before", "finetune", "seed"]
        )
        info[field] = rng.choice(evil_values(rng, work))
        (run / "run.json").write_text(json.dumps(info))
        return f"run.json {field} = {short(info[field])}"
    return f"run.json {flip_bytes(run / 'run.json', rng)}"


def fuzz_run_folder(tiny: Path, work: Path, rng: random.Random, cfg) -> tuple[str, dict]:
    run = work / "run"
    shutil.copytree(tiny / "trained", run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    what = mutate_run_folder(run, rng, work)
    trained = load_config(tiny / "trained" / "config.yaml")

    def lock():
        lock_run_dir(run)
        release_run_dir(run)

    def start():
        out = prepare_run_dir(run, trained, resume=True, force=False, kind="pretrain")
        finish_run(out, status="interrupted")

    return what, {
        "read_run": lambda: read_run(run),
        "check_run_dir --resume": lambda: check_run_dir(run, trained, resume=True, force=False, kind="pretrain"),
        "check_run_dir --force": lambda: check_run_dir(run, trained, resume=False, force=True, kind="pretrain"),
        "lock_run_dir": lock,
        "folder_kind": lambda: folder_kind(run),
        "prepare_run_dir --resume": start,
    }


__all__ = ["fuzz_resume_state", "fuzz_run_folder"]
